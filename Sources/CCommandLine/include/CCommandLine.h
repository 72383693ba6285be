/* CCommandLine: nothing to import. Linking this target into the executable
 * runs arguments.c's constructor, which hands argv to the Swift runtime. */
#ifndef TASKWATCH_CCOMMANDLINE_H
#define TASKWATCH_CCOMMANDLINE_H
#endif
