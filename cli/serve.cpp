#include <fmt/format.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <systemd/sd-daemon.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "checks/registry.hpp"
#include "cli/commands.hpp"
#include "lib/api.hpp"
#include "lib/log.hpp"
#include "lib/scheduler.hpp"

namespace reconcile {
namespace {

/// How long a stopping server waits for runs in progress before it leaves them to be marked
/// abandoned by the next run (systemd's default stop timeout is 90 s).
constexpr auto shutdown_grace = std::chrono::seconds(20);

std::string display_address(const std::string& address, int port)
{
    return address.find(':') != std::string::npos && address.front() != '[' ? fmt::format("[{}]:{}", address, port)
                                                                            : fmt::format("{}:{}", address, port);
}

/// Every connection is a descriptor: take the hard limit (systemd's default soft limit is 1024,
/// its hard limit far higher) so the connection caps, not the descriptor limit, decide.
void raise_descriptor_limit()
{
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &limit);
    }
}

}  // namespace

CLI::App* setup_serve(CLI::App& app, ServeOptions& options)
{
    auto* command = app.add_subcommand("serve", "HTTP API, metrics and the embedded scheduler");
    command->add_option("--address", options.address, "Address to bind (RECON_SERVE_ADDRESS; default 127.0.0.1)");
    command->add_option("--port", options.port, "Port to bind, 0 for any free one (RECON_SERVE_PORT; default 8078)")
        ->check(whole_number(0, 65535));
    command->add_flag("--dev", options.dev, "Loopback only, token 'localdev' for reads and writes (development)");
    return command;
}

int serve_command(const ServeOptions& options, const GlobalOptions& global)
{
    const Settings settings = load_settings_from(global.config_path);
    const ServeSettings serve = load_serve_settings(settings, options.dev, options.address, options.port);
    if (configured_books(settings).empty()) {
        throw Error(ExitCode::config, "no book has a database configured (RECON_DATABASE_URL_<BOOK>)");
    }

    // Termination signals are taken by one thread (sigwait); every other thread, started after
    // this line, inherits the blocked mask.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    signal(SIGPIPE, SIG_IGN);
    raise_descriptor_limit();

    HttpServer server(serve.limits, serve.tokens);
    ReconcileApi api(settings, serve, default_registry());
    api.register_routes(server);
    const int port = server.bind(serve.address, serve.port);
    if (serve.dev) {
        log_warn("dev mode: loopback only, token '{}' for reads and writes; never use it in production", dev_token);
    }
    log_info("listening on {}", display_address(serve.address, port));

    BackgroundScheduler scheduler(settings, default_registry());
    scheduler.start();

    // systemd (Type=notify): ready once bound, and a watchdog ping from the I/O thread itself, so
    // a wedged event loop gets the service restarted. Both are no-ops outside systemd.
    std::uint64_t watchdog_usec = 0;
    if (sd_watchdog_enabled(0, &watchdog_usec) > 0 && watchdog_usec > 0) {
        server.every(std::chrono::milliseconds(std::max<std::uint64_t>(watchdog_usec / 2000, 1)),
                     [] { sd_notify(0, "WATCHDOG=1"); });
    }
    sd_notifyf(0, "READY=1\nSTATUS=listening on %s", display_address(serve.address, port).c_str());

    std::atomic<int> received{0};
    std::atomic<bool> listen_returned{false};
    std::thread waiter([&] {
        int sig = 0;
        sigwait(&stop_signals, &sig);
        received = sig;
        if (listen_returned) return;
        log_info("stopping (signal {})", sig);
        sd_notify(0, "STOPPING=1");
        api.request_stop();
        scheduler.request_stop();
        server.stop();  // listen() returns once in-flight requests are answered
    });
    const bool listened = server.listen();
    listen_returned = true;
    if (received == 0) pthread_kill(waiter.native_handle(), SIGTERM);
    waiter.join();
    api.request_stop();

    const bool scheduler_idle = scheduler.stop(shutdown_grace);
    const bool runs_idle = api.stop(shutdown_grace);
    if (!scheduler_idle || !runs_idle) {
        log_warn(
            "runs still in progress after {} s: exiting anyway; their rows stay running and the next run of "
            "the same book and category marks them abandoned",
            shutdown_grace.count());
        std::fflush(nullptr);
        std::_Exit(listened ? 0 : to_int(ExitCode::unavailable));
    }
    if (!listened && received == 0) {
        throw Error(ExitCode::unavailable,
                    fmt::format("the server on {} stopped unexpectedly", display_address(serve.address, port)));
    }
    log_info("stopped");
    return 0;
}

}  // namespace reconcile
