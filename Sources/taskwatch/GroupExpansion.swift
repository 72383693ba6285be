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
    let resolver = GroupResolver(configuration: configuration)
    let resolution = try resolver.resolve(
      groupIDs, until: once ? .now : deadline, shouldStop: { SignalTrap.pending != nil })
    if let signal = SignalTrap.pending { return .signalled(signal) }
    guard resolution.unsavedGroupIDs.isEmpty else { return .groupsNotSaved(resolution.unsavedGroupIDs) }
    var seen = Set(taskIDs)
    taskIDs += resolution.taskIDs.filter { seen.insert($0).inserted }
    return nil
  }

  /// The diagnostic for groups that were never saved during the run.
  func unsavedGroupsMessage(_ groupIDs: [String]) -> String {
    let names = (groupIDs.count == 1 ? "group " : "groups ") + groupIDs.joined(separator: ", ")
    if once { return names + (groupIDs.count == 1 ? " is" : " are") + " not saved (yet)" }
    return "timed out after \(WatchDuration(seconds: timeout ?? 0)) waiting for \(names) to be saved"
  }
}
