/* pool.c - the bounded pool that runs analyses off the HTTP threads.
 *
 * An I/O thread that accepts an analysis reserves a slot (lmd_pool_reserve;
 * none left: the caller answers 503), parks its connection and pushes the
 * job.  A worker runs it and hands the connection back (lmd_io_job_done); an
 * I/O thread then sends job->status and job->body.  So HTTP threads never
 * wait for a model, and at most `workers` analyses run at once. */
#include <stdlib.h>

#include "server/internal.h"

struct lmd_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    lmd_job *head, *tail; /* queued, not yet running */
    size_t reserved;      /* slots taken: queued + running + reserved not yet pushed */
    size_t capacity;
    int stopping;
    int n_workers;
    pthread_t *workers;
};

static void *worker(void *arg) {
    lmd_pool *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        /* stopping: leave only when no reserved slot can still bring a job */
        while (!p->head && !(p->stopping && p->reserved == 0))
            pthread_cond_wait(&p->cv, &p->mu);
        lmd_job *j = p->head;
        if (j) {
            p->head = j->next;
            if (!p->head) p->tail = NULL;
        }
        int stopping = p->stopping;
        pthread_mutex_unlock(&p->mu);
        if (!j) return NULL;
        if (stopping)
            lmd_job_fail(j, 503, "the server is shutting down");
        else
            j->work(j);
        lmd_io_job_done(j); /* an I/O thread owns j and its connection again */
        pthread_mutex_lock(&p->mu);
        p->reserved--;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
}

lmd_pool *lmd_pool_new(int workers, size_t capacity, lmd_error *err) {
    lmd_pool *p = calloc(1, sizeof *p);
    if (!p || !(p->workers = calloc((size_t)workers, sizeof *p->workers))) {
        free(p);
        return lmd_fail_code(err, LMD_ERR_NO_MEMORY, "out of memory"), NULL;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->capacity = capacity + (size_t)workers; /* waiting + running */
    for (; p->n_workers < workers; p->n_workers++)
        if (pthread_create(&p->workers[p->n_workers], NULL, worker, p)) {
            lmd_pool_free(p);
            return lmd_fail(err, "cannot start %d analysis workers", workers), NULL;
        }
    return p;
}

int lmd_pool_reserve(lmd_pool *p) {
    pthread_mutex_lock(&p->mu);
    int ok = !p->stopping && p->reserved < p->capacity;
    if (ok) p->reserved++;
    pthread_mutex_unlock(&p->mu);
    return ok ? 0 : -1;
}

void lmd_pool_push(lmd_pool *p, lmd_job *j) {
    pthread_mutex_lock(&p->mu);
    j->next = NULL;
    if (p->tail)
        p->tail->next = j;
    else
        p->head = j;
    p->tail = j;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

size_t lmd_pool_load(lmd_pool *p) {
    pthread_mutex_lock(&p->mu);
    size_t n = p->reserved;
    pthread_mutex_unlock(&p->mu);
    return n;
}

void lmd_pool_stop(lmd_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stopping = 1; /* queued jobs are answered 503; running ones finish */
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_workers; i++)
        pthread_join(p->workers[i], NULL);
    p->n_workers = 0;
}

void lmd_pool_free(lmd_pool *p) {
    if (!p) return;
    lmd_pool_stop(p);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->workers);
    free(p);
}
