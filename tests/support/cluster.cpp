#include "tests/support/cluster.hpp"

#include <unistd.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace reconcile::test {
namespace {

std::string script()
{
    return std::string(RECON_SOURCE_DIR) + "/scripts/pg-cluster";
}

std::filesystem::path temp_dir(const std::string& label)
{
    return std::filesystem::temp_directory_path() / ("reconcile-" + label + "-pg-" + std::to_string(getpid()));
}

ProcessOptions slow_tool()
{
    ProcessOptions options;
    options.timeout = std::chrono::seconds(120);
    return options;
}

}  // namespace

PrivateCluster::PrivateCluster(const std::string& label) : m_dir(temp_dir(label))
{
    const auto started = run_process({script(), "start", m_dir.string()}, slow_tool());
    if (started.exit_code != 0) throw std::runtime_error("pg-cluster start failed: " + started.err);
    read_env();
}

PrivateCluster::PrivateCluster(const std::string& label, const PrivateCluster& primary) : m_dir(temp_dir(label))
{
    const auto started = run_process({script(), "standby", primary.m_dir.string(), m_dir.string()}, slow_tool());
    if (started.exit_code != 0) throw std::runtime_error("pg-cluster standby failed: " + started.err);
    read_env();
}

PrivateCluster::~PrivateCluster()
{
    run_process({script(), "stop", m_dir.string()}, slow_tool());
}

void PrivateCluster::read_env()
{
    std::ifstream env(m_dir / "env");
    for (std::string line; std::getline(env, line);) {
        const auto eq = line.find('=');
        if (eq != std::string::npos) m_env[line.substr(0, eq)] = line.substr(eq + 1);
    }
}

std::string PrivateCluster::url(const std::string& dbname) const
{
    return "postgresql://postgres@127.0.0.1:" + m_env.at("RECON_TEST_PGPORT") + "/" + dbname;
}

ProcessResult PrivateCluster::as_owner(const std::string& tool, const std::vector<std::string>& args) const
{
    std::vector<std::string> argv;
    if (!m_env.at("RECON_TEST_PGRUNAS").empty()) {
        argv = {"/usr/sbin/runuser", "-u", m_env.at("RECON_TEST_PGRUNAS"), "--"};
    }
    argv.push_back(m_env.at("RECON_TEST_PGBIN") + "/" + tool);
    argv.insert(argv.end(), args.begin(), args.end());
    return run_process(argv, slow_tool());
}

ProcessResult PrivateCluster::hba_first(const std::string& line) const
{
    const auto hba = std::filesystem::path(m_env.at("RECON_TEST_PGDATA")) / "pg_hba.conf";
    std::stringstream rules;
    rules << std::ifstream(hba).rdbuf();
    std::ofstream(hba) << line << "\n" << rules.str();  // rewritten in place: its owner stays
    return as_owner("pg_ctl", {"reload", "-D", m_env.at("RECON_TEST_PGDATA")});
}

ProcessResult PrivateCluster::restart() const
{
    return as_owner("pg_ctl", {"restart", "-D", m_env.at("RECON_TEST_PGDATA"), "-m", "fast", "-w", "-l",
                               m_env.at("RECON_TEST_PGLOG")});
}

ProcessResult PrivateCluster::reset_wal(const std::vector<std::string>& args) const
{
    const std::string& data = m_env.at("RECON_TEST_PGDATA");
    auto result = as_owner("pg_ctl", {"stop", "-D", data, "-m", "fast", "-w"});
    if (result.exit_code != 0) return result;
    std::vector<std::string> reset_args = args;
    reset_args.insert(reset_args.end(), {"-D", data});
    result = as_owner("pg_resetwal", reset_args);
    if (result.exit_code != 0) return result;
    return as_owner("pg_ctl", {"start", "-D", data, "-w", "-l", m_env.at("RECON_TEST_PGLOG")});
}

}  // namespace reconcile::test
