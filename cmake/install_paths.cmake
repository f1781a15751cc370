# Where an installation puts things. One set of variables feeds the install rules, the
# systemd units and cron example (ExecStart, EnvironmentFile) and the man page's FILES section,
# so a unit never names a path the package does not install.
#
# The package is built for /usr (the .deb); configure with -DCMAKE_INSTALL_PREFIX=... for
# another prefix, and stage with DESTDIR=... cmake --install build.
if(CMAKE_INSTALL_PREFIX_INITIALIZED_TO_DEFAULT)
    set(CMAKE_INSTALL_PREFIX /usr CACHE PATH "Installation prefix" FORCE)
endif()
include(GNUInstallDirs)

set(RECON_INSTALLED_BINARY "${CMAKE_INSTALL_FULL_BINDIR}/reconcile")
# The env-file the units and the cron example read: /etc/reconcile/reconcile.env under /usr.
set(RECON_ENV_FILE "${CMAKE_INSTALL_FULL_SYSCONFDIR}/reconcile/reconcile.env")
# Debian 12 packages ship units in /lib/systemd/system; -DRECON_SYSTEMD_UNIT_DIR=... overrides.
if(NOT RECON_SYSTEMD_UNIT_DIR)
    if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
        set(RECON_SYSTEMD_UNIT_DIR /lib/systemd/system)
    else()
        set(RECON_SYSTEMD_UNIT_DIR "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
    endif()
endif()
set(RECON_SCHEMA_INSTALL_DIR "${CMAKE_INSTALL_DATADIR}/reconcile/schema")
set(RECON_EXAMPLES_INSTALL_DIR "${CMAKE_INSTALL_DOCDIR}/examples")
