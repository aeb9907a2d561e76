#include "tests/datasets/local_http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace ponder::datasets::testing {
namespace {

int BindLoopback(int* port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    close(fd);
    return -1;
  }
  *port = ntohs(address.sin_port);
  return fd;
}

void SendAll(int fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    ssize_t n = send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return;  // the client went away (e.g. it aborted an oversized download)
    sent += static_cast<size_t>(n);
  }
}

}  // namespace

LocalHttpServer::LocalHttpServer() {
  listener_ = BindLoopback(&port_);
  if (listener_ < 0 || listen(listener_, 16) != 0) {
    port_ = 0;
    return;
  }
  thread_ = std::thread([this] { Loop(); });
}

LocalHttpServer::~LocalHttpServer() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (listener_ >= 0) close(listener_);
}

void LocalHttpServer::Serve(const std::string& path, std::string body) {
  std::lock_guard<std::mutex> lock(mu_);
  bodies_[path] = std::move(body);
}

void LocalHttpServer::Loop() {
  while (!stop_) {
    pollfd poll_fd{listener_, POLLIN, 0};
    if (poll(&poll_fd, 1, 50) <= 0) continue;
    int connection = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (connection < 0) continue;
    Answer(connection);
    close(connection);
  }
}

void LocalHttpServer::Answer(int connection) {
  std::string request;
  char buffer[4096];
  while (request.find("\r\n\r\n") == std::string::npos && request.size() < 65536) {
    pollfd poll_fd{connection, POLLIN, 0};
    if (poll(&poll_fd, 1, 2000) <= 0) return;
    ssize_t n = recv(connection, buffer, sizeof(buffer), 0);
    if (n <= 0) return;
    request.append(buffer, static_cast<size_t>(n));
  }
  ++requests_;
  // "GET /path HTTP/1.1"
  size_t first_space = request.find(' ');
  size_t second_space = request.find(' ', first_space + 1);
  std::string path = first_space == std::string::npos || second_space == std::string::npos
                         ? ""
                         : request.substr(first_space + 1, second_space - first_space - 1);
  std::string body;
  bool found = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = bodies_.find(path);
    if (it != bodies_.end()) {
      body = it->second;
      found = true;
    }
  }
  if (!found) body = "not found\n";
  std::string head = std::string(found ? "HTTP/1.1 200 OK" : "HTTP/1.1 404 Not Found") +
                     "\r\nContent-Type: application/octet-stream\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
  SendAll(connection, head + body);
}

int ClosedLocalPort() {
  int port = 0;
  int fd = BindLoopback(&port);
  if (fd < 0) return 9;  // discard: nothing listens there on a test machine
  close(fd);
  return port;
}

}  // namespace ponder::datasets::testing
