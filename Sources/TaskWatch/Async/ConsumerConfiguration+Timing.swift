extension ConsumerConfiguration {
  /// A configuration's timeouts and intervals as `Duration`s, for the async
  /// API: read and written through ``ConsumerConfiguration/timing``, which
  /// stores them in the configuration's seconds-valued settings.
  ///
  /// ```swift
  /// var configuration = ConsumerConfiguration(backend: try BackendURL.parse(url))
  /// configuration.timing.retryFor = .seconds(10)
  /// configuration.timing.healthInterval = .seconds(1)
  /// ```
  ///
  /// The overall deadline is not here: it belongs to each call
  /// (``TaskWatcher/results(for:timeout:)``).
  public struct Timing: Sendable, Hashable {
    /// How long a TCP or unix-socket connect may take (default 5 s).
    public var connectTimeout: Duration
    /// How long a command's reply may take: AUTH, SELECT, MGET, a SUBSCRIBE batch (default 10 s).
    public var commandTimeout: Duration
    /// How long the subscriber may be idle before it is PINGed (default 5 s).
    public var healthInterval: Duration
    /// How long a PING may go unanswered before the link counts as dead (default 2 s).
    public var healthTimeout: Duration
    /// How long the consumer may stay disconnected, counted from the first
    /// failed attempt, before it gives up (default 30 s).
    public var retryFor: Duration
    /// The first pause between reconnect attempts (default 50 ms), doubling each time.
    public var reconnectInitialDelay: Duration
    /// The longest pause between reconnect attempts (default 2 s).
    public var reconnectMaximumDelay: Duration

    /// Creates timing values; the defaults are the CLI's.
    public init(
      connectTimeout: Duration = .seconds(5), commandTimeout: Duration = .seconds(10),
      healthInterval: Duration = .seconds(5), healthTimeout: Duration = .seconds(2),
      retryFor: Duration = .seconds(30), reconnectInitialDelay: Duration = .milliseconds(50),
      reconnectMaximumDelay: Duration = .seconds(2)
    ) {
      self.connectTimeout = connectTimeout
      self.commandTimeout = commandTimeout
      self.healthInterval = healthInterval
      self.healthTimeout = healthTimeout
      self.retryFor = retryFor
      self.reconnectInitialDelay = reconnectInitialDelay
      self.reconnectMaximumDelay = reconnectMaximumDelay
    }
  }

  /// Creates a configuration with its timeouts and intervals as `Duration`s.
  public init(
    backend: BackendURL, keyNaming: KeyNaming = KeyNaming(), timing: Timing, verifyReadyMessages: Bool = true,
    batchSize: Int = 1000
  ) {
    self.init(
      backend: backend, keyNaming: keyNaming, verifyReadyMessages: verifyReadyMessages, batchSize: batchSize)
    self.timing = timing
  }

  /// The timeouts and intervals as `Duration`s (a view of the seconds-valued settings).
  public var timing: Timing {
    get {
      Timing(
        connectTimeout: .seconds(Self.clamped(connectTimeout)), commandTimeout: .seconds(Self.clamped(commandTimeout)),
        healthInterval: .seconds(Self.clamped(healthInterval)), healthTimeout: .seconds(Self.clamped(healthTimeout)),
        retryFor: .seconds(Self.clamped(reconnectPolicy.retryFor)),
        reconnectInitialDelay: .seconds(Self.clamped(reconnectPolicy.initialDelay)),
        reconnectMaximumDelay: .seconds(Self.clamped(reconnectPolicy.maximumDelay)))
    }
    set {
      connectTimeout = newValue.connectTimeout.seconds
      commandTimeout = newValue.commandTimeout.seconds
      healthInterval = newValue.healthInterval.seconds
      healthTimeout = newValue.healthTimeout.seconds
      reconnectPolicy.retryFor = newValue.retryFor.seconds
      reconnectPolicy.initialDelay = newValue.reconnectInitialDelay.seconds
      reconnectPolicy.maximumDelay = newValue.reconnectMaximumDelay.seconds
    }
  }

  /// Seconds a `Duration` can hold (the consumer caps its waits at 10⁹ s too).
  private static func clamped(_ seconds: Double) -> Double {
    seconds.isNaN ? 0 : min(max(seconds, 0), 1e9)
  }
}
