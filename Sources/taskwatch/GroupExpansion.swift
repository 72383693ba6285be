import Glibc
import TaskWatch

/// `--group`: the step before the watch that turns saved groups into the
/// tasks to watch.
extension WatchSession {
  /// Resolves ``groupIDs`` and appends their tasks to ``taskIDs`` (positional
  /// ids first, each id once). Groups not saved yet are waited for until the
  /// deadline; with `--once` they are looked up once.
  /// - Returns: `nil` when every group was found; otherwise the outcome that
  ///   ends the run (a signal, or groups still unsaved).
  mutating func expandGroups(until deadline: Deadline?) throws -> ExitStatus.Outcome? {
    guard let resolution = try resolveGroupsRetrying(until: deadline) else {
      return SignalTrap.pending.map { .signalled($0) } ?? .groupsNotSaved(groupIDs)
    }
    if let signal = SignalTrap.pending { return .signalled(signal) }
    guard resolution.unsavedGroupIDs.isEmpty else { return .groupsNotSaved(resolution.unsavedGroupIDs) }
    var seen = Set(taskIDs)
    taskIDs += resolution.taskIDs.filter { seen.insert($0).inserted }
    return nil
  }

  /// Resolves the groups, retrying connection faults like the watch does:
  /// jittered backoff for up to `--retry-for`, never past the deadline.
  /// - Returns: `nil` when the deadline passed or a signal arrived while
  ///   disconnected.
  private func resolveGroupsRetrying(until deadline: Deadline?) throws -> GroupResolver.Resolution? {
    let resolver = GroupResolver(configuration: configuration)
    let policy = configuration.reconnectPolicy
    var outageStart: Deadline?
    var attempt = 0
    while true {
      do {
        let resolution = try resolver.resolve(
          groupIDs, until: once ? .now : deadline, shouldStop: { SignalTrap.pending != nil })
        if let outageStart {
          StandardStreams.diagnose(
            "reconnected after \(WatchDuration(seconds: outageStart.secondsAgo)); read the groups")
        }
        return resolution
      } catch let error as RedisError where error.isConnectionFault {
        // --once is one look; at the deadline, Redis being down is the answer (69), not "not saved".
        if once { throw NoConnection(moment: .once, everConnected: false, lastError: error) }
        if deadline?.hasPassed == true {
          throw NoConnection(moment: .deadline(timeout ?? 0), everConnected: false, lastError: error)
        }
        let start = outageStart ?? .now
        if outageStart == nil {
          outageStart = start
          StandardStreams.diagnose(ConsumerDiagnostic.connectionLost(error, retryingFor: policy.retryFor).description)
        }
        if start.secondsAgo >= policy.retryFor {
          throw ConsumerError.unavailable(
            endpoint: configuration.backend.endpoint.description, seconds: start.secondsAgo, lastError: error)
        }
        attempt += 1
        let wake = Deadline.earliest(.after(seconds: policy.delay(beforeAttempt: attempt)), deadline)
        while !wake.hasPassed && SignalTrap.pending == nil { usleep(10_000) }
        if SignalTrap.pending != nil { return nil }
      }
    }
  }

  /// The diagnostic for groups that were never saved during the run.
  func unsavedGroupsMessage(_ groupIDs: [String]) -> String {
    let names = (groupIDs.count == 1 ? "group " : "groups ") + groupIDs.joined(separator: ", ")
    if once { return names + (groupIDs.count == 1 ? " is" : " are") + " not saved (yet)" }
    return "timed out after \(WatchDuration(seconds: timeout ?? 0)) waiting for \(names) to be saved"
  }
}
