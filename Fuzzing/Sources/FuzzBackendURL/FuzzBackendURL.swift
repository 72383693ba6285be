import FuzzSupport
import TaskWatch

/// URL parsing: `--url`, `TASKWATCH_URL` and `CELERY_RESULT_BACKEND`, in
/// every form Celery accepts. The first byte chooses whether Celery's
/// `redis_backend_use_ssl` is given. Oracles: an accepted URL names a host
/// (or a socket path), a port in 1…65535, a database ≥ 0, and its
/// description (which redacts the password) parses again to the same place.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzBackendURL(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let bytes = FuzzInput(data, size).bytes
  let requirement: TLSSettings.CertificateRequirement? = (bytes.first ?? 0) % 4 == 1 ? .required : nil
  let text = String(decoding: bytes.dropFirst(), as: UTF8.self)
  guard let url = try? BackendURL.parse(text, certificateRequirement: requirement) else { return 0 }
  check(url, text)
  for sentinel in url.sentinels { check(sentinel, text) }
  guard url.database >= 0 else { oracleFailure("database \(url.database) from \(text.debugDescription)") }
  return 0
}

private func check(_ url: BackendURL, _ text: String) {
  check(url.endpoint, text)
}

private func check(_ endpoint: RedisEndpoint, _ text: String) {
  switch endpoint {
  case .tcp(let host, let port):
    guard !host.isEmpty else { oracleFailure("empty host from \(text.debugDescription)") }
    guard (1...65535).contains(port) else { oracleFailure("port \(port) from \(text.debugDescription)") }
  case .unix(let path):
    guard !path.isEmpty else { oracleFailure("empty socket path from \(text.debugDescription)") }
  }
}
