/* Hands argv to the Swift runtime before main where it cannot find it
 * itself, so that CommandLine.arguments does not depend on /proc.
 *
 * On Linux the Swift runtime finds argv by looking up the initial stack in
 * /proc/self/maps. In a root filesystem without /proc (a bare chroot, the
 * packaging test's, a minimal sandbox) it finds nothing, CommandLine.arguments
 * is empty and every run ends as "no task ids given". glibc calls ELF
 * constructors with (argc, argv, envp), so the vector is at hand here, and the
 * runtime's own override hook (exported for this kind of use) takes it.
 *
 * Only then: where /proc is there the runtime's answer is the same, and a test
 * runner may have set an override of its own that this would replace (with
 * the override on in every process, the TaskWatcher suite failed in the
 * parallel `swift test` run). */
#include "CCommandLine.h"

#if defined(__linux__)
#include <unistd.h>

/* Declared in the Swift runtime (stdlib/public/CommandLineSupport), swiftcall. */
extern void _swift_stdlib_overrideUnsafeArgvArgc(char **argv, int argc) __attribute__((swiftcall));

__attribute__((constructor)) static void hand_arguments_to_swift(int argc, char **argv, char **envp) {
  (void)envp;
  if (access("/proc/self/maps", R_OK) != 0) {
    _swift_stdlib_overrideUnsafeArgvArgc(argv, argc);
  }
}
#endif
