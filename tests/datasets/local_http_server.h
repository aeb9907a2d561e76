// A minimal HTTP/1.1 server on 127.0.0.1 for the fetch tests: serves fixed bodies by path, one
// request per connection, from a background thread. Paths it does not know get 404.
#ifndef PONDER_TESTS_DATASETS_LOCAL_HTTP_SERVER_H_
#define PONDER_TESTS_DATASETS_LOCAL_HTTP_SERVER_H_

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace ponder::datasets::testing {

class LocalHttpServer {
 public:
  // Listens on an ephemeral port of 127.0.0.1 at once; port() is 0 if that failed.
  LocalHttpServer();
  ~LocalHttpServer();
  LocalHttpServer(const LocalHttpServer&) = delete;
  LocalHttpServer& operator=(const LocalHttpServer&) = delete;

  // Serves `body` at `path` ("/gsm8k/test.jsonl").
  void Serve(const std::string& path, std::string body);
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int requests() const { return requests_.load(); }

 private:
  void Loop();
  void Answer(int connection);

  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::mutex mu_;
  std::map<std::string, std::string> bodies_;
  std::thread thread_;
};

// A port on 127.0.0.1 where nothing listens (bound, then released).
int ClosedLocalPort();

}  // namespace ponder::datasets::testing

#endif  // PONDER_TESTS_DATASETS_LOCAL_HTTP_SERVER_H_
