function __taskwatch_should_offer_completions_for_flags_or_options -a expected_commands
    set -l non_repeating_flags_or_options $argv[2..]
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __taskwatch_parse_tokens
    test "$commands" = "$expected_commands"; and return $non_repeating_flags_or_options_absent
end

function __taskwatch_should_offer_completions_for_positional -a expected_commands positional_index_comparison expected_positional_index
    set -l non_repeating_flags_or_options
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __taskwatch_parse_tokens
    test "$commands" = "$expected_commands" -a \( "$positional_index" "$positional_index_comparison" "$expected_positional_index" \)
end

function __taskwatch_parse_tokens -S
    set -l unparsed_tokens (__taskwatch_tokens -pc)
    switch $unparsed_tokens[1]
    case 'taskwatch'
        __taskwatch_parse_subcommand -r 1 'u/url=' 'password-file=' 'master-name=' 'tls-ca=' 'tls-cert=' 'tls-key=' 'tls-cert-reqs=' 'tls-check-hostname=' 'connect-timeout=' 'key-prefix=' 'global-keyprefix=' 'group=+' 'all' 'count=' 't/timeout=' 'once' 'fail-fast' 'children' 'no-verify' 'retry-for=' 'health-interval=' 'pending-hint-after=' 'q/quiet' 'summary' 'no-result' 'format=' 'color=' 'report=+' 'heartbeat=' 'version' 'h/help'
    end
end

function __taskwatch_tokens
    if test (string split -m 1 -f 1 -- . "$FISH_VERSION") -gt 3
        commandline --tokens-raw $argv
    else
        commandline -o $argv
    end
end

function __taskwatch_parse_subcommand -S -a positional_count
    argparse -s r -- $argv
    set -l option_specs $argv[2..]
    set -l is_repeating_positional $_flag_r
    set -el _flag_r
    set -a commands $unparsed_tokens[1]
    set positional_index 0
    while true
        set -e unparsed_tokens[1]
        argparse -sn "$commands" $option_specs -- $unparsed_tokens 2> /dev/null
        set unparsed_tokens $argv
        set positional_index (math $positional_index + 1)
        for non_repeating_flag_or_option in $non_repeating_flags_or_options
            if set -ql "_flag_$(string replace -a - _ -- $non_repeating_flag_or_option)"
                set non_repeating_flags_or_options_absent 1
                break
            end
        end
        test (count $unparsed_tokens) -eq 0 -o \( -z "$is_repeating_positional" -a "$positional_index" -gt "$positional_count" \) && break
    end
end

function __taskwatch_complete_directories
    set -l token (commandline -t)
    string match -- '*/' $token
    set -l subdirs $token*/
    printf %s\n $subdirs
end

function __taskwatch_custom_completion
    set -x SAP_SHELL fish
    set -x SAP_SHELL_VERSION $FISH_VERSION
    set -l tokens (__taskwatch_tokens -p)
    if test -z "$(__taskwatch_tokens -t)"
        set -l index (count (__taskwatch_tokens -pc))
        set tokens $tokens[..$index] \'\' $tokens[(math $index + 1)..]
    end
    command $tokens[1] $argv $tokens
end

complete -c 'taskwatch' -f
complete -c 'taskwatch' -n '__taskwatch_should_offer_completions_for_flags_or_options "taskwatch" u url' -s 'u' -l 'url' -d 'Result backend URL (default: $TASKWATCH_URL, then $CELERY_RESULT_BACKEND, then redis://127.0.0.1:6379/0).' -rfka ''
complete -c 'taskwatch' -n '__taskwatch_should_offer_completions_for_flags_or_options "taskwatch" password-file' -l 'password-file' -d 'Read the Redis password from this file (overrides $TASKWATCH_PASSWORD and the URL\'s).' -rF
complete -c 'taskwatch' -n '__taskwatch_should_offer_completions_for_flags_or_options "taskwatch" master-name' -l 'master-name' -d 'Master name for a sentinel:// URL (default: $TASKWATCH_MASTER_NAME, then the URL\'s master_name).' -rfka ''
complete -c 'taskwatch' -n '__taskwatch_should_offer_completions_for_flags_or_options "taskwatch" tls-ca' -l 'tls-ca' -d 'CA certificates (PEM) trusted for rediss:// (default: $TASKWATCH_TLS_CA, then ssl_ca_certs, then the system\'s).' -rF
complete -c 'taskwatch' -n '__taskwatch_should_offer_completions_for_flags_or_options "taskwatch" tls-cert' -l 'tls-cert' -d 'Client certificate (PEM) for mutual TLS (default: $TASKWATCH_TLS_CERT, then ssl_certfile).' -rF
complete -c 'taskwatch' -n '__taskwatch_should_offer_completions_for_flags_or_options "taskwatch" tls-key' -l 'tls-key' -d 'Private key (PEM) of the client certificate (default: $TASKWATCH_TLS_KEY, then ssl_keyfile).' -rF
complete -c 'taskwatch' -n '__taskwatch_should_offer_completions_for_flags_or_options "taskwatch" tls-cert-reqs' -l 'tls-cert-reqs' -d 'required, optional or none: Celery\'s redis_backend_use_ssl ssl_cert_reqs; turns TLS on for a redis:// URL (default: the URL\'s ssl_cert_reqs).' -rfka ''
complete -c 'taskwatch' -n '__taskwatch_should_offer_completions_for_flags_or_options "taskwatch" tls-check-hostname' -l 'tls-check-hostname' -d 'true or false: check that the TLS certificate names the host (default: the URL\'s ssl_check_hostname, then true unless the level is none).' -rfka ''
complete -c 'taskwatch' -n '__taskwatch_should_offer_completions_for_flags_or_options "taskwatch" connect-timeout' -l 'connect-timeout' -d 'Time allowed to connect.' -rfka ''
complete -c 'taskwatch' -n '__taskwatch_should_offer_completions_for_flags_or_options "taskwatch" key-prefix' -l 'key-prefix' -d 'Prefix of result keys and channels.' -rfka ''
complete -c 'taskwatch' -n '__taskwatch_should_offer_completions_for_flags_or_options "taskwatch" global-keyprefix' -l 'global-keyprefix' -d 'Celery\'s global_keyprefix transport option (\'_\' is appended unless it ends in : _ - or .).' -rfka ''
complete -c 'taskwatch' -n '__taskwatch_should_offer_completions_for_flags_or_options "taskwatch"' -l 'group' -d 'Watch every task of this saved group (repeatable; nested groups are expanded; an unsaved group is waited for).' -rfka ''
complete -c 'taskwatch' -n '__taskwatch_should_offer_completions_for_flags_or_options "taskwatch" all' -l 'all' -d 'Watch every task on the backend (PSUBSCRIBE to the key prefix) instead of given ids.'
complete -c 'taskwatch' -n '__taskwatch_should_offer_completions_for_flags_or_options "taskwatch" count' -l 'count' -d 'With --all, stop once this many tasks are ready.' -rfka ''
complete -c 'taskwatch' -n '__taskwatch_should_offer_completions_for_flags_or_options "taskwatch" t timeout' -s 't' -l 'timeout' -d 'Give up after this long (90, 90s, 5m, 1h; default: wait until ready).' -rfka ''
complete -c 'taskwatch' -n '__taskwatch_should_offer_completions_for_flags_or_options "taskwatch" once' -l 'once' -d 'Print the current states and exit (124 if any task is unready).'
complete -c 'taskwatch' -n '__taskwatch_should_offer_completions_for_flags_or_options "taskwatch" fail-fast' -l 'fail-fast' -d 'Exit 1 at the first FAILURE or REVOKED.'
complete -c 'taskwatch' -n '__taskwatch_should_offer_completions_for_flags_or_options "taskwatch" children' -l 'children' -d 'Watch the tasks each task started too (its stored children), recursively.'
complete -c 'taskwatch' -n '__taskwatch_should_offer_completions_for_flags_or_options "taskwatch" no-verify' -l 'no-verify' -d 'Trust READY messages without confirming them from the stored key.'
complete -c 'taskwatch' -n '__taskwatch_should_offer_completions_for_flags_or_options "taskwatch" retry-for' -l 'retry-for' -d 'Give up (exit 69) after this long without a working connection.' -rfka ''
complete -c 'taskwatch' -n '__taskwatch_should_offer_completions_for_flags_or_options "taskwatch" health-interval' -l 'health-interval' -d 'PING an idle subscriber this often; no PONG within 2s counts as a dead link.' -rfka ''
complete -c 'taskwatch' -n '__taskwatch_should_offer_completions_for_flags_or_options "taskwatch" pending-hint-after' -l 'pending-hint-after' -d 'Say why a task may be PENDING with nothing stored after this long (0 or off: never).' -rfka ''
complete -c 'taskwatch' -n '__taskwatch_should_offer_completions_for_flags_or_options "taskwatch" q quiet' -s 'q' -l 'quiet' -d 'Print no state lines; the exit status is the answer.'
complete -c 'taskwatch' -n '__taskwatch_should_offer_completions_for_flags_or_options "taskwatch" summary' -l 'summary' -d 'End with a {"type":"summary"} line.'
complete -c 'taskwatch' -n '__taskwatch_should_offer_completions_for_flags_or_options "taskwatch" no-result' -l 'no-result' -d 'Leave result and traceback out of meta.'
complete -c 'taskwatch' -n '__taskwatch_should_offer_completions_for_flags_or_options "taskwatch" format' -l 'format' -d 'auto (a live table on a terminal, JSON lines otherwise), json, or text.' -rfka 'auto\t"live table on a terminal, JSON lines otherwise" json\t"one JSON object per state change" text\t"human view: live table, or plain lines on a pipe"'
complete -c 'taskwatch' -n '__taskwatch_should_offer_completions_for_flags_or_options "taskwatch" color' -l 'color' -d 'Colour the text view: auto (honours NO_COLOR), always, never.' -rfka 'auto\t"on a terminal, unless NO_COLOR is set or TERM=dumb" always\t"always, even into a pipe" never\t"never"'
complete -c 'taskwatch' -n '__taskwatch_should_offer_completions_for_flags_or_options "taskwatch"' -l 'report' -d 'Also report the run for CI at exit: junit=FILE (JUnit XML) or github (annotations; on when GITHUB_ACTIONS=true). Repeatable.' -rfka 'github junit='
complete -c 'taskwatch' -n '__taskwatch_should_offer_completions_for_flags_or_options "taskwatch" heartbeat' -l 'heartbeat' -d 'When stdout or stderr is not a terminal, print \'still waiting: …\' on stderr after this long without a change (0: never).' -rfka ''
complete -c 'taskwatch' -n '__taskwatch_should_offer_completions_for_flags_or_options "taskwatch" version' -l 'version' -d 'Show the version.'
complete -c 'taskwatch' -n '__taskwatch_should_offer_completions_for_flags_or_options "taskwatch" h help' -s 'h' -l 'help' -d 'Show help information.'
