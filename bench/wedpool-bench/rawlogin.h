/* rawlogin.h — wedpool-bench's own login, for the runs that only log in (--idle, -T 0): protocol
 * 3.0 on a non-blocking socket, SCRAM-SHA-256 by wedpool's own client (src/scram.c), which keeps
 * the salted password per (password, salt, iterations), so only the first login against a server
 * with a fixed salt pays PBKDF2 (libpq pays it on every login, on the bench's one loop).
 *
 * Three layers: the conninfo resolved as libpq resolves it (raw_target_*); message building and
 * parsing with the login's state machine, pure and unit-tested (raw_build_*, raw_frame,
 * raw_parse_auth, raw_login_*), on the daemon's own buffers and readers (src/proto.h); and a
 * connection driving them on a socket (raw_conn_*). No SSL, GSS or channel binding: a DSN that
 * requires one of them needs libpq. */
#ifndef WPB_RAWLOGIN_H
#define WPB_RAWLOGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "proto.h"

#define RAW_MAX_MESSAGE 30000 /* longest backend message accepted (libpq's limit for ErrorResponse) */
#define RAW_MAX_AUTH 2000     /* longest Authentication message accepted (libpq's limit) */
#define RAW_ERR_LEN 200

/* ---- the target ---- */

struct raw_target {
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char *user, *dbname, *password, *options; /* owned; password and options NULL when none */
    char where[300]; /* for messages: connection to server at "127.0.0.1", port 6432 */
};

/* Resolves the DSN as libpq would: its values, else the PG* variables and libpq's defaults (the OS
 * user; dbname = user; the socket directory; port 5432), the first of several hosts, hostaddr over
 * host; then the address (blocking, once). Returns 0; -1 with err; -2 with err when the DSN or the
 * environment requires SSL, GSS encryption or channel binding, which only libpq does. */
int raw_target_resolve(const char *dsn, struct raw_target *t, char *err, size_t errlen);
void raw_target_free(struct raw_target *t);

/* ---- messages ---- */

/* Frontend messages, appended to b. false when out of memory (b->failed), or for a startup packet
 * longer than PostgreSQL takes (then nothing of it stays in b). */
bool raw_build_startup(struct pbuf *b, const char *user, const char *dbname, const char *appname,
                       const char *options);
bool raw_build_password(struct pbuf *b, const char *password); /* PasswordMessage ('p') */
bool raw_build_sasl_initial(struct pbuf *b, const char *mechanism, const char *data, size_t len);
bool raw_build_sasl_response(struct pbuf *b, const char *data, size_t len);
bool raw_build_terminate(struct pbuf *b);
/* Drops the first n bytes of b. */
void raw_consume(struct pbuf *b, size_t n);

/* The md5 answer: "md5" + hex(md5(hex(md5(password || user)) || salt)). */
void raw_md5_answer(const char *password, const char *user, const uint8_t salt[4], char out[36]);

/* One backend message. */
struct raw_msg {
    char type;
    const uint8_t *body; /* after the length */
    size_t len;
};

enum raw_frame_result { RAW_FRAME_OK, RAW_FRAME_PARTIAL, RAW_FRAME_BAD };
/* The message at the front of buf: OK with *m and *used (its whole length), PARTIAL when more bytes
 * are needed, BAD when its length is below 4 or above max (RAW_MAX_AUTH for 'R'). */
enum raw_frame_result raw_frame(const uint8_t *buf, size_t len, size_t max, struct raw_msg *m, size_t *used);

enum raw_auth_code {
    RAW_AUTH_OK = 0,
    RAW_AUTH_CLEARTEXT = 3,
    RAW_AUTH_MD5 = 5,
    RAW_AUTH_SASL = 10,
    RAW_AUTH_SASL_CONTINUE = 11,
    RAW_AUTH_SASL_FINAL = 12,
};

struct raw_auth {
    int32_t code;
    uint8_t salt[4];      /* MD5 */
    bool scram;           /* SASL: SCRAM-SHA-256 is offered */
    const uint8_t *data;  /* SASL continue/final: the SCRAM message */
    size_t len;
};

/* An Authentication message's body. false when malformed: too short, a length that does not fit
 * its code, a SASL mechanism list without its terminator. Unknown codes parse (the login fails). */
bool raw_parse_auth(const uint8_t *body, size_t len, struct raw_auth *out);

/* ---- the login ---- */

/* RL_AUTH: waiting for an authentication request (or AuthenticationOk after a password); the SASL
 * states: SCRAM under way; RL_SASL_DONE: the server proved it knows the password, AuthenticationOk
 * is next; RL_PARAMS: logged in, ParameterStatus and BackendKeyData until ReadyForQuery. */
enum raw_login_state { RL_AUTH, RL_SASL_CONTINUE, RL_SASL_FINAL, RL_SASL_DONE, RL_PARAMS, RL_READY, RL_FAILED };

struct scram_client;

struct raw_login {
    enum raw_login_state state;
    const char *user, *password; /* borrowed */
    struct scram_client *scram;
    char code[6];                /* RL_FAILED: the SQLSTATE, the server's or ours */
    char message[RAW_ERR_LEN];   /* RL_FAILED: "FATAL:  28P01: password authentication failed ..." */
    char server_version[32];     /* from ParameterStatus */
};

void raw_login_init(struct raw_login *l, const char *user, const char *password);
void raw_login_clear(struct raw_login *l);
/* Fails the login with an SQLSTATE and a message of ours (printf-style). */
enum raw_login_state raw_login_fail(struct raw_login *l, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Takes one backend message; the answer, if any, is appended to out. Returns the new state:
 * RL_READY at ReadyForQuery, RL_FAILED with code and message. */
enum raw_login_state raw_login_feed(struct raw_login *l, const struct raw_msg *m, struct pbuf *out);

/* ---- the connection ---- */

enum { RAW_WANT_READ = 1, RAW_WANT_WRITE = 2, RAW_READY = 4, RAW_FAILED = 8 };

struct raw_conn {
    int fd;
    bool connected;  /* the TCP (or unix socket) connect completed */
    bool logged_in;
    const struct raw_target *target;
    struct raw_login login;
    struct pbuf in, out;
};

/* Starts a non-blocking connect and queues the StartupMessage; then wait for RAW_WANT_WRITE. NULL
 * only when out of memory; when the socket cannot be made or the connect fails at once (a unix
 * socket that is not there), login.state is RL_FAILED already. */
struct raw_conn *raw_conn_start(const struct raw_target *t, const char *appname);
/* Advances the login when the socket is ready (RAW_WANT_* as in `ready`). Returns RAW_READY,
 * RAW_FAILED (rc->login.code and .message say why) or what to wait for (RAW_WANT_* bits). */
int raw_conn_login_io(struct raw_conn *rc, int ready);
/* A logged-in idle connection became readable: notices and parameter changes are ignored. false
 * when the connection is gone: the server closed it or sent an error. */
bool raw_conn_idle_read(struct raw_conn *rc);
/* Sends Terminate when logged in (best effort, never blocks), closes, frees. */
void raw_conn_close(struct raw_conn *rc);

#endif
