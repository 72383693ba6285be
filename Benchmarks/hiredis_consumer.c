/*
 * hiredis_consumer: the smallest pub/sub consumer on hiredis, the C peer of
 * `Benchmarks/run --instructions`.
 *
 * Connects with hiredis, sends one SUBSCRIBE with every channel named in
 * FILE (one per line), and for each `message` reply fwrite()s its payload
 * and a newline to stdout, until MESSAGES messages were written; then exits 0.
 * No JSON, no dedupe, no state: what is left is hiredis's reader and stdio,
 * the least a consumer on the same library can spend per message.
 *
 * Usage: hiredis_consumer --port PORT --channels FILE --messages N [--host H]
 * Exit: 0 done; 1 the connection ended or failed first; 2 usage or system error.
 */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(void) {
    fprintf(stderr, "usage: hiredis_consumer --port PORT --channels FILE --messages N [--host H]\n");
    return 2;
}

int main(int argc, char **argv) {
    const char *host = "127.0.0.1", *path = NULL;
    int port = 0;
    long wanted = -1;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--channels")) path = argv[i + 1];
        else if (!strcmp(argv[i], "--messages")) wanted = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--host")) host = argv[i + 1];
        else return usage();
    }
    if (!port || !path || wanted < 0) return usage();

    /* The channel names, as SUBSCRIBE's arguments. */
    FILE *file = fopen(path, "r");
    if (!file) { perror(path); return 2; }
    size_t count = 0, capacity = 1024;
    char **args = malloc(capacity * sizeof *args);
    size_t *lengths = malloc(capacity * sizeof *lengths);
    if (!args || !lengths) return 2;
    args[0] = "SUBSCRIBE";
    lengths[0] = 9;
    count = 1;
    char *line = NULL;
    size_t line_capacity = 0;
    ssize_t length;
    while ((length = getline(&line, &line_capacity, file)) > 0) {
        if (line[length - 1] == '\n') line[--length] = 0;
        if (length == 0) continue;
        if (count == capacity) {
            capacity *= 2;
            args = realloc(args, capacity * sizeof *args);
            lengths = realloc(lengths, capacity * sizeof *lengths);
            if (!args || !lengths) return 2;
        }
        args[count] = strdup(line);
        lengths[count] = (size_t)length;
        count++;
    }
    fclose(file);

    redisContext *context = redisConnect(host, port);
    if (!context || context->err) {
        fprintf(stderr, "hiredis_consumer: %s\n", context ? context->errstr : "out of memory");
        return 1;
    }
    if (redisAppendCommandArgv(context, (int)count, (const char **)args, lengths) != REDIS_OK) return 1;

    long written = 0;
    while (written < wanted) {
        redisReply *reply;
        if (redisGetReply(context, (void **)&reply) != REDIS_OK) {
            fprintf(stderr, "hiredis_consumer: %s\n", context->errstr);
            return 1;
        }
        if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 3 && reply->element[0]->type == REDIS_REPLY_STRING &&
            !strcmp(reply->element[0]->str, "message")) {
            fwrite(reply->element[2]->str, 1, reply->element[2]->len, stdout);
            fputc('\n', stdout);
            written++;
        }
        freeReplyObject(reply);
    }
    fflush(stdout);
    redisFree(context);
    return 0;
}
