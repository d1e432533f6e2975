/* derive.c — SCRAM key derivation (PBKDF2) on worker threads.
 *
 * A job is owned by exactly one side at a time: the queue (under dx.mu), then the worker that took
 * it, then the finished list (under dx.mu), then the loop thread, which runs its callback and frees
 * it. The worker posts back the way fetch.c does: a byte down a pipe whose read end is a libevent
 * event on the loop. The only thing the loop touches while a worker holds a job is its cancelled
 * flag (atomic): a cancelled job's callback never runs, and the worker stops deriving at its next
 * check, so a hostile server that closes right after asking for millions of rounds costs
 * milliseconds, not seconds. The caller's object (a server) can therefore be freed as soon as it
 * has cancelled its job: nothing refers to it afterwards. */
#include "derive.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "waker.h"
#include "loop.h"

#define DERIVE_WORKERS 2 /* two slow derivations at once; more wait their turn */

struct derive_job {
    struct derive_job *next;
    atomic_bool cancelled;   /* set by the loop thread, read by the worker */
    derive_done_fn done;     /* loop thread only */
    void *arg;
    char *password;          /* inputs: copies, cleansed at free */
    uint8_t salt[SCRAM_MAX_SALT];
    size_t salt_len;
    int iterations;
    bool ok;                 /* outputs, written by the worker before it posts the job */
    uint8_t sp[SCRAM_KEY_LEN];
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t threads[DERIVE_WORKERS];
    int nthreads;
    bool started;
    bool stop;
    struct derive_job *todo_head, *todo_tail; /* FIFO */
    struct derive_job *finished;              /* waiting for the loop */
} dx = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static atomic_bool stopping;
static struct waker waker = WAKER_INIT;

static void job_free(struct derive_job *j)
{
    if (j->password != NULL) {
        OPENSSL_cleanse(j->password, strlen(j->password));
        free(j->password);
    }
    OPENSSL_cleanse(j, sizeof(*j));
    free(j);
}

static bool keep_going(void *arg)
{
    struct derive_job *j = arg;
    return !atomic_load(&j->cancelled) && !atomic_load(&stopping);
}

static void *worker_main(void *unused)
{
    pthread_mutex_lock(&dx.mu);
    for (;;) {
        while (!dx.stop && dx.todo_head == NULL)
            pthread_cond_wait(&dx.cv, &dx.mu);
        if (dx.stop)
            break;
        struct derive_job *j = dx.todo_head;
        dx.todo_head = j->next;
        if (dx.todo_head == NULL)
            dx.todo_tail = NULL;
        pthread_mutex_unlock(&dx.mu);

        j->ok = keep_going(j) &&
                scram_salted_password(j->password, j->salt, j->salt_len, j->iterations, keep_going, j, j->sp);

        pthread_mutex_lock(&dx.mu);
        j->next = dx.finished;
        dx.finished = j;
        if (!waker_wake(&waker))
            log_error("SCRAM key derivation worker: cannot wake the loop: %s", strerror(errno));
    }
    pthread_mutex_unlock(&dx.mu);
    return NULL;
}

static void on_wake(void *arg)
{
    pthread_mutex_lock(&dx.mu);
    struct derive_job *list = dx.finished;
    dx.finished = NULL;
    pthread_mutex_unlock(&dx.mu);
    /* A callback may cancel other jobs of this list (closing their servers): the flag is checked
     * just before each one runs, and every job is freed only here. */
    while (list != NULL) {
        struct derive_job *j = list;
        list = j->next;
        if (!atomic_load(&j->cancelled) && j->done != NULL)
            j->done(j->arg, j->ok, j->sp);
        job_free(j);
    }
}

static bool start_workers(void)
{
    char err[160];
    if (!waker_open(&waker, loop_base(), on_wake, NULL, err, sizeof(err))) {
        log_error("SCRAM key derivation worker: %s", err);
        return false;
    }
    dx.stop = false;
    atomic_store(&stopping, false);
    /* signals stay with the loop thread */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    for (int i = 0; i < DERIVE_WORKERS; i++) {
        if (pthread_create(&dx.threads[dx.nthreads], NULL, worker_main, NULL) != 0) {
            log_error("SCRAM key derivation worker: cannot start thread %d", i + 1);
            break;
        }
        dx.nthreads++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    dx.started = true; /* derive_stop cleans up from here on, even with no thread */
    if (dx.nthreads == 0) {
        derive_stop();
        return false;
    }
    return true;
}

struct derive_job *derive_start(const char *password, const uint8_t *salt, size_t salt_len, int iterations,
                                derive_done_fn done, void *arg)
{
    if (salt_len == 0 || salt_len > SCRAM_MAX_SALT || (!dx.started && !start_workers()))
        return NULL;
    struct derive_job *j = calloc(1, sizeof(*j));
    if (j == NULL)
        return NULL;
    j->password = strdup(password);
    if (j->password == NULL) {
        free(j);
        return NULL;
    }
    atomic_init(&j->cancelled, false);
    memcpy(j->salt, salt, salt_len);
    j->salt_len = salt_len;
    j->iterations = iterations;
    j->done = done;
    j->arg = arg;
    pthread_mutex_lock(&dx.mu);
    if (dx.todo_tail != NULL)
        dx.todo_tail->next = j;
    else
        dx.todo_head = j;
    dx.todo_tail = j;
    pthread_cond_signal(&dx.cv);
    pthread_mutex_unlock(&dx.mu);
    return j;
}

void derive_cancel(struct derive_job *j)
{
    if (j == NULL)
        return;
    j->done = NULL;
    atomic_store(&j->cancelled, true);
}

static void free_list(struct derive_job *j)
{
    while (j != NULL) {
        struct derive_job *next = j->next;
        job_free(j);
        j = next;
    }
}

void derive_stop(void)
{
    if (!dx.started)
        return;
    atomic_store(&stopping, true);
    pthread_mutex_lock(&dx.mu);
    dx.stop = true;
    pthread_cond_broadcast(&dx.cv);
    pthread_mutex_unlock(&dx.mu);
    for (int i = 0; i < dx.nthreads; i++)
        pthread_join(dx.threads[i], NULL);
    dx.nthreads = 0;
    free_list(dx.todo_head);
    free_list(dx.finished);
    dx.todo_head = dx.todo_tail = dx.finished = NULL;
    waker_close(&waker);
    dx.started = false;
}
