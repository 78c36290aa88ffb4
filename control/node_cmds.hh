// `edgectl node --control SOCKET|tls://HOST:PORT load|status|rollback`:
// operator commands for one node agent, without the control-plane daemon. Exit codes: 0 done,
// 2 the zones were rejected locally (nothing sent), 1 any other error.
#pragma once

#include <string>
#include <vector>

#include "control/node_client.hh"

namespace edgedns::ctl {

// The node's address from --control and, for tls://, the TLS files and the
// name its certificate must carry (default: the host of the address).
// Throws std::runtime_error naming what is missing or unreadable.
NodeAddress node_address(const std::string& control, const proto::TlsFiles& tls,
                         const std::string& server_name);

int node_load(const NodeAddress& node, const std::vector<std::string>& files,
              const std::string& origin, bool json);
int node_status(const NodeAddress& node, bool json);
int node_rollback(const NodeAddress& node, const std::string& to, bool json);

}  // namespace edgedns::ctl
