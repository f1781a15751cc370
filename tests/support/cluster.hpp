#pragma once

// A private PostgreSQL cluster started by a test itself (scripts/pg-cluster), for faults that
// would hit every other test on the shared server (a restart) or for topologies the shared
// server is not (a streaming standby).

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "tests/support/process.hpp"

namespace reconcile::test {

class PrivateCluster {
public:
    /// Starts a fresh cluster in a temp directory named after `label`.
    explicit PrivateCluster(const std::string& label);
    /// Starts a streaming standby of `primary` (pg_basebackup -R).
    PrivateCluster(const std::string& label, const PrivateCluster& primary);
    /// Stops the cluster and removes its directory.
    ~PrivateCluster();
    PrivateCluster(const PrivateCluster&) = delete;
    PrivateCluster& operator=(const PrivateCluster&) = delete;

    /// A libpq URL of `dbname` on this cluster.
    std::string url(const std::string& dbname) const;
    /// The TCP port the cluster listens on (127.0.0.1).
    const std::string& port() const { return m_env.at("RECON_TEST_PGPORT"); }
    /// Puts `line` first in pg_hba.conf and has the server reload it (pg_ctl reload, which does
    /// not wait: the caller waits for its effect).
    ProcessResult hba_first(const std::string& line) const;
    /// pg_ctl restart -m fast, as the cluster's owner.
    ProcessResult restart() const;
    /// Stops the cluster, runs pg_resetwal with `args` and starts it again: `-e E` moves the next
    /// transaction id to epoch E, `-x N` to id N (a multiple of 1048576, where a new pg_xact
    /// segment starts), so a test reaches ids billions away without spending them.
    ProcessResult reset_wal(const std::vector<std::string>& args) const;
    /// The cluster's directory (DIR of scripts/pg-cluster).
    const std::filesystem::path& dir() const { return m_dir; }

private:
    void read_env();
    /// Runs a PostgreSQL tool (a name in the cluster's bin directory) as the cluster's owner.
    ProcessResult as_owner(const std::string& tool, const std::vector<std::string>& args) const;

    std::filesystem::path m_dir;
    std::map<std::string, std::string> m_env;
};

}  // namespace reconcile::test
