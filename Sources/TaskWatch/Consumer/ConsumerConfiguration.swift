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

  /// Creates a configuration; every tuning value has the default the CLI uses.
  public init(
    backend: BackendURL,
    keyNaming: KeyNaming = KeyNaming(),
    connectTimeout: Double = 5,
    commandTimeout: Double = 30,
    verifyReadyMessages: Bool = true,
    batchSize: Int = 1000
  ) {
    self.backend = backend
    self.keyNaming = keyNaming
    self.connectTimeout = connectTimeout
    self.commandTimeout = commandTimeout
    self.verifyReadyMessages = verifyReadyMessages
    self.batchSize = max(1, batchSize)
  }
}
