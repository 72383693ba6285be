import Glibc
import Synchronization

/// Turns SIGINT and SIGTERM into a flag the run loop checks, so the run can
/// flush its output and print the summary before exiting with 130 or 143.
///
/// The handlers are installed without `SA_RESTART`, so a signal also cuts
/// short the `poll()` the consumer is waiting in. The flag is an atomic: the
/// handler stores into it and the run loop (and the consumer's interruption
/// check) loads it, with no lock a signal handler could deadlock on.
enum SignalTrap {
  private static let received = Atomic<Int32>(0)

  /// Installs the handlers.
  static func install() {
    for signalNumber in [SIGINT, SIGTERM] {
      var action = sigaction()
      action.__sigaction_handler.sa_handler = { number in SignalTrap.received.store(number, ordering: .relaxed) }
      sigemptyset(&action.sa_mask)
      action.sa_flags = 0
      sigaction(signalNumber, &action, nil)
    }
  }

  /// The signal that arrived, if any.
  static var pending: Int32? {
    let number = received.load(ordering: .relaxed)
    return number == 0 ? nil : number
  }
}
