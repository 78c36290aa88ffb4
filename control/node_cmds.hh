// `edgectl node --control SOCKET load|status|rollback`: operator commands
// for one node agent, without the control-plane daemon. Exit codes: 0 done,
// 2 the zones were rejected locally (nothing sent), 1 any other error.
#pragma once

#include <string>
#include <vector>

namespace edgedns::ctl {

int node_load(const std::string& socket, const std::vector<std::string>& files,
              const std::string& origin, bool json);
int node_status(const std::string& socket, bool json);
int node_rollback(const std::string& socket, const std::string& to, bool json);

}  // namespace edgedns::ctl
