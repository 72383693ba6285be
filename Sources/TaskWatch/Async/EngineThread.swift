import Glibc

/// Starts a watch's engine on a POSIX thread of its own, so that its blocking
/// waits (`poll()`) never hold one of the few threads of Swift's cooperative
/// pool: two such waits on a 2-core machine would stall every other task.
enum EngineThread {
  private final class Body {
    let run: @Sendable () -> Void
    init(_ run: @escaping @Sendable () -> Void) { self.run = run }
  }

  /// Runs `body` on a new detached thread.
  /// - Throws: ``TaskWatchError/Code-swift.struct/unavailable`` when the
  ///   system refuses a thread (`pthread_create`'s error is in the message).
  static func start(_ body: @escaping @Sendable () -> Void) throws(TaskWatchError) {
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    defer { pthread_attr_destroy(&attributes) }
    pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
    let context = Unmanaged.passRetained(Body(body)).toOpaque()
    var thread = pthread_t()
    let status = pthread_create(
      &thread, &attributes,
      { context in
        Unmanaged<Body>.fromOpaque(context!).takeRetainedValue().run()
        return nil
      }, context)
    guard status == 0 else {
      Unmanaged<Body>.fromOpaque(context).release()
      throw TaskWatchError(
        .unavailable, "cannot start a thread for the watch: \(String(cString: strerror(status)))")
    }
  }
}
