import ArgumentParser

/// The shell completion scripts `--generate-completion-script` prints: the
/// parser's own, with two corrections the parser cannot be told to make.
///
/// swift-argument-parser 1.8.2 adds a `help` subcommand to every generated
/// script (`ToolInfoV0(commandStack:)` injects it), although a command without
/// subcommands has none: `taskwatch help` watches a task named "help". In zsh
/// that subcommand's rest argument (`(-)*:: :->arg`) next to our repeating
/// task-id argument made `_arguments` fail on every Tab ("doubled rest
/// argument definition"). Here the subcommand is taken out again, and fish
/// gets one description per value of an option with a fixed list of values
/// (the parser repeats the option's help for each).
///
/// Each edit must find the text it edits: if a new parser version generates
/// something else, generating the script stops with a message saying which
/// edit failed, and the completion tests fail, instead of a script that is
/// silently wrong.
enum CompletionScript {
  /// Values with their descriptions, per option, for fish.
  static let valueDescriptions: [(option: String, values: [(value: String, description: String)])] = [
    ("format", OutputFormat.allCases.map { ($0.rawValue, $0.summary) }),
    ("color", ColorChoice.allCases.map { ($0.rawValue, $0.summary) }),
  ]

  /// The script for `shell`.
  static func generate(for shell: CompletionShell) -> String {
    var script = TaskwatchCommand.completionScript(for: shell)
    switch shell {
    case .zsh: removeHelpSubcommandForZsh(from: &script)
    case .bash: removeHelpSubcommandForBash(from: &script)
    case .fish:
      removeHelpSubcommandForFish(from: &script)
      describeValuesForFish(in: &script)
    default: break
    }
    return script
  }

  /// The shell named by `--generate-completion-script NAME` (or `=NAME`) in
  /// `arguments`, if any.
  static func requestedShell(in arguments: [String]) -> CompletionShell? {
    let flag = "--generate-completion-script"
    for (index, argument) in arguments.enumerated() {
      if argument == flag, index + 1 < arguments.count { return CompletionShell(rawValue: arguments[index + 1]) }
      if argument.hasPrefix(flag + "=") { return CompletionShell(rawValue: String(argument.dropFirst(flag.count + 1))) }
    }
    return nil
  }

  // MARK: - zsh

  private static func removeHelpSubcommandForZsh(from script: inout String) {
    remove(#/\n *'\(-\): :->command'\n *'\(-\)\*:: :->arg'/#, from: &script, what: "zsh subcommand specs")
    remove(#/\n    case "\$\{state\}" in\n(?:.*\n)*?    esac\n/#, from: &script, what: "zsh subcommand handler")
    remove(#/\n_taskwatch_help\(\) \{\n(?:.*\n)*?\}\n/#, from: &script, what: "zsh help function")
  }

  // MARK: - bash

  private static func removeHelpSubcommandForBash(from script: inout String) {
    remove(
      #/\n    # Offer subcommand / subcommand argument completions\n(?:.*\n)*?    esac\n/#, from: &script,
      what: "bash subcommand handler")
    remove(#/\n_taskwatch_help\(\) \{\n(?:.*\n)*?\}\n/#, from: &script, what: "bash help function")
  }

  // MARK: - fish

  private static func removeHelpSubcommandForFish(from script: inout String) {
    remove(
      #/\n        switch \$unparsed_tokens\[1\]\n        case 'help'\n.*\n        end/#, from: &script,
      what: "fish help parsing")
    remove(
      #/\ncomplete -c 'taskwatch' .*-fa 'help' -d 'Show subcommand help information\.'/#, from: &script,
      what: "fish help subcommand")
    remove(#/\ncomplete -c 'taskwatch' -n '[^']*"taskwatch help"[^\n]*/#, from: &script, what: "fish help options")
  }

  /// `-rfka 'auto json text'` → `-rfka 'auto\t"…" json\t"…" text\t"…"'`:
  /// fish reads a tab after a candidate as the start of its description.
  private static func describeValuesForFish(in script: inout String) {
    for (option, values) in valueDescriptions {
      let plain = "-l '\(option)' "
      let list = "-rfka '" + values.map(\.value).joined(separator: " ") + "'"
      let described =
        "-rfka '" + values.map { "\($0.value)\\t\"\($0.description)\"" }.joined(separator: " ") + "'"
      guard let line = script.split(separator: "\n").first(where: { $0.contains(plain) && $0.hasSuffix(list) })
      else { preconditionFailure("completion script: no fish line for --\(option) ends in \(list)") }
      script = script.replacing(String(line), with: line.dropLast(list.count) + described)
    }
  }

  // MARK: -

  /// Removes the one match of `pattern`, or stops: the parser's output changed.
  private static func remove(_ pattern: Regex<Substring>, from script: inout String, what: String) {
    let matches = script.matches(of: pattern)
    guard matches.count == 1 else {
      preconditionFailure("completion script: expected one \(what), found \(matches.count)")
    }
    script.removeSubrange(matches[0].range)
  }
}
