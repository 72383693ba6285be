import Glibc
import TaskWatch

/// `--report junit=FILE`: the run as JUnit XML, the test report format CI
/// systems (GitLab, Jenkins, GitHub test reporters) read.
///
/// One `<testsuite>` (inside `<testsuites>`), one `<testcase>` per task,
/// named `name[id]` (or the id), its `time` the seconds from the start of the
/// watch until it was ready (or until the end). FAILURE and REVOKED get a
/// `<failure>` with the exception type, message and traceback; a task whose
/// stored result cannot be read gets an `<error>` of type `UNREADABLE` with
/// the reason and the fix; a task still unready at the end gets an `<error>`
/// naming its state. With `--children` every task of every tree is a test
/// case; those found through a parent have the classname
/// `taskwatch.<root id>`, so a report groups each workflow.
struct JUnitReport {
  /// The run's summary, with every task.
  let summary: RunSummary
  /// Details of the tasks.
  let record: RunRecord
  /// When the run ended.
  let ended: WallClockTime

  /// The XML document.
  var xml: String {
    var failures = 0
    var errors = 0
    var cases = ""
    let end = record.secondsSinceStart(ended)
    for status in summary.statuses {
      let detail = record.record(for: status.taskID)
      let time = detail?.readyAt.map(record.secondsSinceStart) ?? (status.state.isReady ? 0 : end)
      let classname = status.rootID.map { "taskwatch." + $0 } ?? "taskwatch"
      cases +=
        "    <testcase classname=\"\(Self.escape(classname))\" name=\"\(Self.escape(TaskRecord.label(status.taskID, name: detail?.name)))\""
      cases += " time=\"\(Self.seconds(time))\""
      if status.state.isFailure {
        failures += 1
        let type = detail?.excType ?? status.state.name
        let message =
          detail.flatMap { MetaFields.failureText(type: $0.excType, message: $0.excMessage) } ?? status.state.name
        cases += ">\n      <failure type=\"\(Self.escape(type))\" message=\"\(Self.escape(message))\">"
        cases += Self.escape(detail?.traceback ?? message, inAttribute: false) + "</failure>\n    </testcase>\n"
      } else if let reason = status.unreadable {
        errors += 1
        let message = "cannot read the stored result: \(reason.problem): \(reason.fix)"
        cases += ">\n      <error type=\"UNREADABLE\" message=\"\(Self.escape(message))\"/>\n"
        cases += "    </testcase>\n"
      } else if !status.state.isReady {
        errors += 1
        let message = "still \(status.state.name) when taskwatch exited (\(summary.exitStatus.rawValue))"
        cases += ">\n      <error type=\"\(Self.escape(status.state.name))\" message=\"\(Self.escape(message))\"/>\n"
        cases += "    </testcase>\n"
      } else {
        cases += "/>\n"
      }
    }
    let counts =
      "tests=\"\(summary.statuses.count)\" failures=\"\(failures)\" errors=\"\(errors)\" skipped=\"0\" time=\"\(Self.seconds(end))\""
    var timestamps = RFC3339Timestamp()
    // The JUnit schema's timestamp has no fraction and no zone (it is UTC).
    let timestamp = String(timestamps.string(for: record.started).prefix(19))
    return """
      <?xml version="1.0" encoding="UTF-8"?>
      <testsuites name="taskwatch" \(counts)>
        <testsuite name="taskwatch" \(counts) timestamp="\(timestamp)">
      \(cases)  </testsuite>
      </testsuites>

      """
  }

  /// Writes the XML to `path`, replacing the file.
  /// - Throws: ``UsageProblem`` naming the file when it cannot be written.
  func write(to path: String) throws {
    let bytes = Array(xml.utf8)
    guard let file = fopen(path, "w") else {
      throw UsageProblem(description: "cannot write the JUnit report \(path): \(String(cString: strerror(errno)))")
    }
    defer { fclose(file) }
    guard fwrite(bytes, 1, bytes.count, file) == bytes.count, fflush(file) == 0 else {
      throw UsageProblem(description: "cannot write the JUnit report \(path): \(String(cString: strerror(errno)))")
    }
  }

  /// Seconds with millisecond precision.
  private static func seconds(_ value: Double) -> String {
    let milliseconds = Int((value * 1000).rounded())
    let fraction = String(milliseconds % 1000)
    return "\(milliseconds / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
  }

  /// Text made safe for XML content and attribute values (where line breaks
  /// and tabs are kept as character references, or they would be read as
  /// spaces); characters XML 1.0 cannot carry at all (most control
  /// characters) become `?`.
  static func escape(_ text: String, inAttribute: Bool = true) -> String {
    var escaped = ""
    escaped.reserveCapacity(text.utf8.count)
    for scalar in text.unicodeScalars {
      switch scalar {
      case "&": escaped += "&amp;"
      case "<": escaped += "&lt;"
      case ">": escaped += "&gt;"
      case "\"": escaped += "&quot;"
      case "'": escaped += "&apos;"
      case "\n": escaped += inAttribute ? "&#10;" : "\n"
      case "\r": escaped += "&#13;"
      case "\t": escaped += inAttribute ? "&#9;" : "\t"
      default:
        let value = scalar.value
        if value < 0x20 || (0xFFFE...0xFFFF).contains(value) || (0xD800...0xDFFF).contains(value) {
          escaped += "?"
        } else {
          escaped.unicodeScalars.append(scalar)
        }
      }
    }
    return escaped
  }
}
