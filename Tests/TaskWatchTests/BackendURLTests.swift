import Testing

@testable import TaskWatch

@Suite("BackendURL")
struct BackendURLTests {
  @Test(
    "accepted forms",
    arguments: [
      ("redis://", BackendURL(endpoint: .tcp(host: "localhost", port: 6379))),
      ("redis://127.0.0.1:6390/2", BackendURL(endpoint: .tcp(host: "127.0.0.1", port: 6390), database: 2)),
      ("redis://:s3cret@host/0", BackendURL(endpoint: .tcp(host: "host", port: 6379), password: "s3cret")),
      (
        "redis://alice:p%40ss%3Aw@host:1234/5",
        BackendURL(endpoint: .tcp(host: "host", port: 1234), database: 5, username: "alice", password: "p@ss:w")
      ),
      ("redis://onlypass@host", BackendURL(endpoint: .tcp(host: "host", port: 6379), password: "onlypass")),
      ("REDIS://h:1/3?socket_timeout=5", BackendURL(endpoint: .tcp(host: "h", port: 1), database: 3)),
      ("redis://[::1]:6400/1", BackendURL(endpoint: .tcp(host: "::1", port: 6400), database: 1)),
      ("unix:///run/redis.sock?db=4", BackendURL(endpoint: .unix(path: "/run/redis.sock"), database: 4)),
      ("redis+socket:///tmp/r.sock?virtual_host=7", BackendURL(endpoint: .unix(path: "/tmp/r.sock"), database: 7)),
      ("socket:///tmp/r.sock", BackendURL(endpoint: .unix(path: "/tmp/r.sock"))),
      ("unix://:pw@/tmp/r.sock", BackendURL(endpoint: .unix(path: "/tmp/r.sock"), password: "pw")),
    ])
  func accepted(text: String, expected: BackendURL) throws {
    #expect(try BackendURL.parse(text) == expected)
  }

  @Test(
    "refused forms",
    arguments: [
      ("localhost:6379", "expected a URL"),
      ("http://host/0", "unsupported URL scheme 'http://'"),
      ("redis://host:99999/0", "invalid port '99999'"),
      ("redis://host:abc/0", "invalid port 'abc'"),
      ("redis://host/x", "invalid database number 'x'"),
      ("redis://host/-1", "invalid database number '-1'"),
      ("redis://[::1/0", "unterminated IPv6 address"),
      ("redis://:p%zz@host", "bad percent-escape"),
      ("unix://", "absolute path"),
      ("rediss://:pw@host:6380/0?ssl_cert_reqs=required", "TLS (rediss://) is not supported yet"),
      ("sentinel://h1:26379;sentinel://h2:26379", "Sentinel"),
    ])
  func refused(text: String, fragment: String) {
    #expect {
      try BackendURL.parse(text)
    } throws: { error in
      String(describing: error).contains(fragment)
    }
  }

  @Test("descriptions never show the password")
  func redaction() throws {
    let url = try BackendURL.parse("redis://alice:hunter2@h:1/2")
    #expect(url.description == "redis://alice:***@h:1/2")
    #expect(!String(describing: BackendURLError.malformed("redis://:hunter2@h:x", reason: "r")).contains("hunter2"))
    #expect(
      !String(describing: (try? BackendURL.parse("rediss://:hunter2@h")).map { "\($0)" } ?? "").contains("hunter2"))
    do {
      _ = try BackendURL.parse("rediss://u:hunter2@h/0")
    } catch {
      #expect(!error.description.contains("hunter2"))
      #expect(error.description.contains("u:***@h"))
    }
  }
}
