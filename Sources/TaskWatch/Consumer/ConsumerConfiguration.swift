/// Everything a ``ResultConsumer`` needs to know before it connects.
public struct ConsumerConfiguration: Sendable {
  /// The Redis server, database and credentials.
  public var backend: BackendURL
  /// How result keys and channels are named.
  public var keyNaming: KeyNaming
  /// Seconds allowed for a TCP or unix-socket connect.
  public var connectTimeout: Double
  /// Seconds allowed for a command's reply (AUTH, SELECT, MGET, SUBSCRIBE batches).
  public var commandTimeout: Double
  /// Count a READY message only once the stored key in our own database
  /// confirms it (pub/sub ignores the database number).
  public var verifyReadyMessages: Bool
  /// Channels per SUBSCRIBE/UNSUBSCRIBE command and keys per MGET (Celery-sized
  /// batches keep every command small while the pipeline keeps them fast).
  public var batchSize: Int
  /// How lost connections are retried.
  public var reconnectPolicy: ReconnectPolicy
  /// Seconds without traffic after which the subscriber is PINGed.
  public var healthInterval: Double
  /// Seconds a PING may go unanswered before the link counts as dead.
  public var healthTimeout: Double
  /// Seconds a task may stay PENDING with nothing stored and no message
  /// before the consumer looks for a reason and reports it as a
  /// ``ConsumerDiagnostic/pendingHint(_:)`` (once per cause); `nil` (the
  /// library's default) never looks. The CLI's default is 10 s.
  public var pendingHintAfter: Double? = nil
  /// The caller's overall deadline: reconnecting never goes past it.
  public var deadline: Deadline?
  /// Asked while waiting to reconnect or for confirmations; `true` makes the
  /// consumer stop with ``ConsumerError/interrupted`` (the CLI wires signals here).
  public var isInterrupted: (@Sendable () -> Bool)?
  /// Ends every wait at once when cancelled (``TaskWatcher``'s engine sets
  /// it; internal, so the synchronous API stays as it is).
  var wakeup: EngineWakeup?
  /// Watch the tasks each watched task started too, recursively, as listed
  /// in its stored `children` (`TaskChildren`): the watch ends when every
  /// task of every tree is ready. Their changes carry
  /// ``StateChange/parentID`` and ``StateChange/rootID``.
  public var followChildren: Bool
  /// The most tasks one tree (a given task and everything found below it)
  /// may have when ``followChildren`` is on; a larger tree stops the consumer
  /// with ``WorkflowTooLargeError`` instead of growing without bound.
  public var maximumTreeSize: Int

  /// Creates a configuration; every tuning value has the default the CLI uses.
  public init(
    backend: BackendURL,
    keyNaming: KeyNaming = KeyNaming(),
    connectTimeout: Double = 5,
    commandTimeout: Double = 10,
    verifyReadyMessages: Bool = true,
    batchSize: Int = 1000,
    reconnectPolicy: ReconnectPolicy = ReconnectPolicy(),
    healthInterval: Double = 5,
    healthTimeout: Double = 2,
    deadline: Deadline? = nil,
    isInterrupted: (@Sendable () -> Bool)? = nil,
    followChildren: Bool = false,
    maximumTreeSize: Int = 100_000
  ) {
    self.backend = backend
    self.keyNaming = keyNaming
    self.connectTimeout = connectTimeout
    self.commandTimeout = commandTimeout
    self.verifyReadyMessages = verifyReadyMessages
    self.batchSize = max(1, batchSize)
    self.reconnectPolicy = reconnectPolicy
    self.healthInterval = healthInterval
    self.healthTimeout = healthTimeout
    self.deadline = deadline
    self.isInterrupted = isInterrupted
    self.followChildren = followChildren
    self.maximumTreeSize = max(1, maximumTreeSize)
  }
}
