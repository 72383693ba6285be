import Testing

@testable import CeleryPayload
@testable import RedisWire
@testable import TaskWatch

@Suite("The error funnel: a server error reply parsed once")
struct ServerErrorTests {
  @Test(
    "each reply gets its code and kind",
    arguments: [
      ("NOAUTH Authentication required.", ServerError.Code.noauth, ServerError.Kind.authentication),
      ("WRONGPASS invalid username-password pair or user is disabled.", .wrongpass, .authentication),
      ("NOPERM this user has no permissions to run the 'ping' command", .noperm, .authentication),
      ("LOADING Redis is loading the dataset in memory", .loading, .transient),
      ("BUSY Redis is busy running a script.", .busy, .transient),
      ("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.", .masterdown, .transient),
      ("READONLY You can't write against a read only replica.", .readonly, .transient),
      ("TRYAGAIN Multiple keys request during rehashing of slot", .tryagain, .transient),
      ("CLUSTERDOWN The cluster is down", .clusterdown, .transient),
      ("MOVED 3999 127.0.0.1:6381", .moved, .redirection),
      ("ASK 3999 127.0.0.1:6381", .ask, .redirection),
      ("ERR DB index is out of range", .err, .configuration),
      ("ERR invalid password", .err, .authentication),
      ("ERR AUTH <password> called without any password configured for the default user.", .err, .authentication),
      ("ERR unknown command 'FOO', with args beginning with: ", .err, .request),
      ("WRONGTYPE Operation against a key holding the wrong kind of value", .other, .request),
      ("", .other, .request),
    ])
  func parses(text: String, code: ServerError.Code, kind: ServerError.Kind) {
    let error = ServerError(text)
    #expect(error.code == code)
    #expect(error.kind == kind)
    #expect(error.message == text)
    #expect(error.codeText == String(text.prefix { $0 != " " }))
  }

  @Test("the funnel turns refused credentials into authenticationFailed and the rest into rejected")
  func funnel() {
    let auth = RedisError.reply("NOAUTH Authentication required.", to: "PSUBSCRIBE", from: "h:1")
    #expect(auth == .authenticationFailed(endpoint: "h:1", message: "NOAUTH Authentication required."))
    #expect(!auth.isConnectionFault)

    let loading = RedisError.reply("LOADING Redis is loading the dataset in memory", to: "MGET", from: "h:1")
    #expect(loading.isConnectionFault)
    #expect(!loading.isConfigurationError)
    #expect(loading.description == "h:1 refused MGET: LOADING Redis is loading the dataset in memory")

    let select = RedisError.reply("ERR DB index is out of range", to: "SELECT 16", from: "h:1")
    #expect(select.isConfigurationError)
    #expect(!select.isConnectionFault)

    let other = RedisError.reply("ERR unknown command", to: "MGET", from: "h:1")
    #expect(!other.isConnectionFault && !other.isConfigurationError)
  }

  @Test("an error reply's text in commandFailed keeps the transient rule")
  func legacyText() {
    #expect(RedisError.commandFailed(command: "ROLE", message: "LOADING Redis is loading").isConnectionFault)
    #expect(!RedisError.commandFailed(command: "MGET", message: "unexpected reply status(\"OK\")").isConnectionFault)
  }
}
