import ArgumentParser
import Glibc
import TaskWatch

/// Where Redis is and how to log in.
struct ConnectionOptions: ParsableArguments {
  /// The URL used when neither the flag nor the environment names one.
  static let defaultURL = "redis://127.0.0.1:6379/0"

  @Option(
    name: [.short, .long],
    help: ArgumentHelp(
      "Result backend URL (default: $TASKWATCH_URL, then $CELERY_RESULT_BACKEND, then \(defaultURL)).",
      valueName: "url"))
  var url: String?

  @Option(
    help: ArgumentHelp(
      "Read the Redis password from this file (overrides $TASKWATCH_PASSWORD and the URL's).",
      valueName: "path"),
    completion: .file())
  var passwordFile: String?

  @Option(
    help: ArgumentHelp(
      "Master name for a sentinel:// URL (default: $TASKWATCH_MASTER_NAME, then the URL's master_name).",
      valueName: "name"))
  var masterName: String?

  @Option(
    help: ArgumentHelp(
      "CA certificates (PEM) trusted for rediss:// (default: $TASKWATCH_TLS_CA, then ssl_ca_certs, then the system's).",
      valueName: "path"),
    completion: .file())
  var tlsCa: String?

  @Option(
    help: ArgumentHelp(
      "Client certificate (PEM) for mutual TLS (default: $TASKWATCH_TLS_CERT, then ssl_certfile).",
      valueName: "path"),
    completion: .file())
  var tlsCert: String?

  @Option(
    help: ArgumentHelp(
      "Private key (PEM) of the client certificate (default: $TASKWATCH_TLS_KEY, then ssl_keyfile).",
      valueName: "path"),
    completion: .file())
  var tlsKey: String?

  @Option(
    help: ArgumentHelp(
      "required, optional or none: Celery's redis_backend_use_ssl ssl_cert_reqs; turns TLS on for a redis:// URL"
        + " (default: the URL's ssl_cert_reqs).",
      valueName: "level"))
  var tlsCertReqs: CertificateRequirementArgument?

  @Option(
    help: ArgumentHelp(
      "true or false: check that the TLS certificate names the host (default: the URL's ssl_check_hostname,"
        + " then true unless the level is none).",
      valueName: "bool"))
  var tlsCheckHostname: Bool?

  @Option(help: ArgumentHelp("Time allowed to connect.", valueName: "duration"))
  var connectTimeout = WatchDuration(seconds: 5)

  /// The backend URL after the environment and password sources are applied:
  /// `--url` > `TASKWATCH_URL` > `CELERY_RESULT_BACKEND` > the default, and
  /// `--password-file` > `TASKWATCH_PASSWORD` > the URL's password. For a
  /// `sentinel://` URL also `--master-name` > `TASKWATCH_MASTER_NAME` > the
  /// URL's `master_name` (one is required), and the sentinels' password from
  /// `TASKWATCH_SENTINEL_PASSWORD`. For a TLS URL, each of `--tls-ca`,
  /// `--tls-cert`, `--tls-key` > its environment variable > the URL's
  /// parameter; the files are loaded here, so a bad one is a usage error
  /// before anything connects.
  func resolvedBackend(environment: (String) -> String?) throws -> BackendURL {
    let sources: [(name: String, value: String?)] = [
      ("--url", url), ("TASKWATCH_URL", environment("TASKWATCH_URL")),
      ("CELERY_RESULT_BACKEND", environment("CELERY_RESULT_BACKEND")),
    ]
    let (origin, text) =
      sources.first(where: { $0.value != nil }).map { ($0.name, $0.value!) }
      ?? ("default", Self.defaultURL)
    var backend: BackendURL
    do {
      backend = try BackendURL.parse(text, certificateRequirement: tlsCertReqs?.requirement)
    } catch {
      throw UsageProblem(description: origin == "--url" ? error.description : "\(origin): \(error)")
    }
    if let passwordFile {
      backend.password = try Self.readPassword(from: passwordFile)
    } else if let password = environment("TASKWATCH_PASSWORD"), !password.isEmpty {
      backend.password = password
    }
    if let username = backend.username, backend.password == nil {
      throw UsageProblem(
        description:
          "the URL names the user '\(username)' but no password: give it in the URL (user:password@),"
          + " TASKWATCH_PASSWORD or --password-file")
    }
    try applyTLSFiles(to: &backend, environment: environment)
    guard backend.usesSentinel else {
      if masterName != nil { throw UsageProblem(description: "--master-name needs a sentinel:// URL") }
      return backend
    }
    backend.masterName = masterName ?? environment("TASKWATCH_MASTER_NAME") ?? backend.masterName
    guard backend.masterName != nil else {
      throw UsageProblem(
        description:
          "a sentinel:// URL needs the master's name: use --master-name, TASKWATCH_MASTER_NAME or ?master_name=")
    }
    backend.sentinelPassword = environment("TASKWATCH_SENTINEL_PASSWORD")
    return backend
  }

  /// Puts the TLS file options into the backend's TLS settings and loads
  /// them. The environment variables are ignored for a plain URL; the flags
  /// are an error there.
  private func applyTLSFiles(to backend: inout BackendURL, environment: (String) -> String?) throws {
    let files: [(flag: String, value: String?, variable: String, path: WritableKeyPath<TLSSettings, String?>)] = [
      ("--tls-ca", tlsCa, "TASKWATCH_TLS_CA", \.caFile),
      ("--tls-cert", tlsCert, "TASKWATCH_TLS_CERT", \.certificateFile),
      ("--tls-key", tlsKey, "TASKWATCH_TLS_KEY", \.keyFile),
    ]
    guard var tls = backend.tls else {
      let given = files.first(where: { $0.value != nil })?.flag ?? tlsCheckHostname.map { _ in "--tls-check-hostname" }
      if let given {
        throw UsageProblem(
          description: "\(given) needs a TLS URL (rediss://…?ssl_cert_reqs=required) or --tls-cert-reqs")
      }
      return
    }
    if let tlsCheckHostname { tls.hostnameCheck = tlsCheckHostname }
    for file in files {
      if let path = file.value ?? environment(file.variable).flatMap({ $0.isEmpty ? nil : $0 }) {
        tls[keyPath: file.path] = path
      }
    }
    backend.tls = tls
    _ = try TLSClientContext.shared(for: tls)
  }

  private static func readPassword(from path: String) throws -> String {
    guard let file = fopen(path, "r") else {
      throw UsageProblem(description: "cannot read password file \(path): \(String(cString: strerror(errno)))")
    }
    defer { fclose(file) }
    var bytes = [UInt8]()
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
      let count = fread(&chunk, 1, chunk.count, file)
      if count == 0 { break }
      bytes.append(contentsOf: chunk[0..<count])
    }
    if ferror(file) != 0 {
      throw UsageProblem(description: "cannot read password file \(path): \(String(cString: strerror(errno)))")
    }
    while let last = bytes.last, last == 0x0A || last == 0x0D { bytes.removeLast() }
    guard !bytes.isEmpty else { throw UsageProblem(description: "password file \(path) is empty") }
    return String(decoding: bytes, as: UTF8.self)
  }
}

/// `--tls-cert-reqs`: a certificate requirement in Celery's spellings.
struct CertificateRequirementArgument: ExpressibleByArgument {
  let requirement: TLSSettings.CertificateRequirement

  init?(argument: String) {
    guard let requirement = TLSSettings.CertificateRequirement(celeryValue: argument) else { return nil }
    self.requirement = requirement
  }

  static var allValueStrings: [String] { TLSSettings.CertificateRequirement.allCases.map(\.rawValue) }
}

/// How result keys are named.
struct KeyOptions: ParsableArguments {
  @Option(help: ArgumentHelp("Prefix of result keys and channels.", valueName: "prefix"))
  var keyPrefix = KeyNaming.defaultTaskKeyPrefix

  @Option(
    name: .customLong("global-keyprefix"),
    help: ArgumentHelp(
      "Celery's global_keyprefix transport option ('_' is appended unless it ends in : _ - or .).",
      valueName: "prefix"))
  var globalKeyPrefix: String?

  @Option(
    name: .customLong("group"),
    help: ArgumentHelp(
      "Watch every task of this saved group (repeatable; nested groups are expanded; an unsaved group is waited for).",
      valueName: "group-id"))
  var groups: [String] = []
}

/// How long to wait and when to stop.
struct WaitingOptions: ParsableArguments {
  @Option(
    name: [.short, .long],
    help: ArgumentHelp("Give up after this long (90, 90s, 5m, 1h; default: wait until ready).", valueName: "duration"))
  var timeout: WatchDuration?

  @Flag(help: "Print the current states and exit (124 if any task is unready).")
  var once = false

  @Flag(help: "Exit 1 at the first FAILURE or REVOKED.")
  var failFast = false

  @Flag(help: "Watch the tasks each task started too (its stored children), recursively.")
  var children = false

  @Flag(help: "Trust READY messages without confirming them from the stored key.")
  var noVerify = false

  @Option(help: ArgumentHelp("Give up (exit 69) after this long without a working connection.", valueName: "duration"))
  var retryFor = WatchDuration(seconds: 30)

  @Option(
    help: ArgumentHelp(
      "PING an idle subscriber this often; no PONG within 2s counts as a dead link.", valueName: "duration"))
  var healthInterval = WatchDuration(seconds: 5)

  @Option(
    help: ArgumentHelp(
      "Say why a task may be PENDING with nothing stored after this long (0 or off: never).",
      valueName: "duration"))
  var pendingHintAfter = PendingHintDelay(seconds: 10)
}

/// What goes to standard output.
struct OutputOptions: ParsableArguments {
  @Flag(name: [.short, .long], help: "Print no state lines; the exit status is the answer.")
  var quiet = false

  @Flag(help: "End with a {\"type\":\"summary\"} line.")
  var summary = false

  @Flag(help: "Leave result and traceback out of meta.")
  var noResult = false

  @Option(
    help: ArgumentHelp(
      "auto (a live table on a terminal, JSON lines otherwise), json, or text.", valueName: "format"))
  var format = OutputFormat.auto

  @Option(help: ArgumentHelp("Colour the text view: auto (honours NO_COLOR), always, never.", valueName: "when"))
  var color = ColorChoice.auto
}
