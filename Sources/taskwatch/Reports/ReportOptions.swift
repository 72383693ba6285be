import ArgumentParser

/// Reports for CI: `--report` and `--heartbeat`.
struct ReportOptions: ParsableArguments {
  @Option(
    help: ArgumentHelp(
      "Also report the run for CI at exit: junit=FILE (JUnit XML) or github (annotations; on when GITHUB_ACTIONS=true). Repeatable.",
      valueName: "kind"))
  var report: [ReportRequest] = []

  @Option(
    help: ArgumentHelp(
      "When stdout or stderr is not a terminal, print 'still waiting: …' on stderr after this long without a change (0: never).",
      valueName: "duration"))
  var heartbeat = WatchDuration(seconds: 60)

  /// The reports asked for, with `github` added when running in GitHub Actions.
  func requests(environment: (String) -> String?) -> [ReportRequest] {
    var requests = report
    if environment("GITHUB_ACTIONS") == "true" && !requests.contains(.github) { requests.append(.github) }
    return requests
  }
}
