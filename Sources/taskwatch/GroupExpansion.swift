import TaskWatch

/// `--group`: the step before the watch that turns saved groups into the
/// tasks to watch.
extension WatchSession {
  /// Resolves ``groupIDs`` and appends their tasks to ``taskIDs`` (positional
  /// ids first, each id once). Groups not saved yet are waited for until the
  /// deadline; with `--once` they are looked up once. The resolver retries a
  /// lost connection like the watch does; its diagnostics are printed as
  /// they happen.
  /// - Returns: `nil` when every group was found; otherwise the outcome that
  ///   ends the run (a signal, or groups still unsaved).
  mutating func expandGroups(until deadline: Deadline?) throws -> ExitStatus.Outcome? {
    let resolver = GroupResolver(configuration: plan.configuration)
    let resolution: GroupResolver.Resolution
    // While disconnected, the fault: at the deadline, or for the one look
    // of --once, Redis being down is the answer (69), not "not saved" (124).
    var lost: RedisError?
    let once = plan.once
    do {
      resolution = try resolver.resolve(
        plan.groupIDs, until: once ? .now : deadline,
        shouldStop: { SignalTrap.pending != nil || (once && lost != nil) },
        diagnose: { diagnostic in
          switch diagnostic {
          case .connectionLost(let error, _): lost = error
          case .reconnected: lost = nil
          default: break
          }
          if !(once && lost != nil) { writer.diagnose(Self.groupWording(diagnostic)) }
        })
    } catch ConsumerError.deadlinePassed {
      if let lost { throw NoConnection(moment: .deadline(plan.timeout ?? 0), everConnected: false, lastError: lost) }
      return .groupsNotSaved(plan.groupIDs)
    }
    if once, let lost { throw NoConnection(moment: .once, everConnected: false, lastError: lost) }
    if let signal = SignalTrap.pending { return .signalled(signal) }
    guard resolution.unsavedGroupIDs.isEmpty else { return .groupsNotSaved(resolution.unsavedGroupIDs) }
    for taskID in resolution.taskIDs { taskIDs.insert(taskID) }
    return nil
  }

  /// A resolver diagnostic as the user reads it: a reconnect re-read groups, not tasks.
  private static func groupWording(_ diagnostic: ConsumerDiagnostic) -> String {
    guard case .reconnected(let endpoint, let seconds, _) = diagnostic else { return diagnostic.description }
    return "reconnected to \(endpoint) after \(WatchDuration(seconds: seconds)); read the groups"
  }

  /// The diagnostic for groups that were never saved during the run.
  func unsavedGroupsMessage(_ groupIDs: [String]) -> String {
    let names = (groupIDs.count == 1 ? "group " : "groups ") + groupIDs.joined(separator: ", ")
    if plan.once { return names + (groupIDs.count == 1 ? " is" : " are") + " not saved (yet)" }
    return "timed out after \(WatchDuration(seconds: plan.timeout ?? 0)) waiting for \(names) to be saved"
  }
}
