#include "mpi_comm.h"

#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "env_params.h"

#ifdef GRAFT_HAVE_MPI
#include <mpi.h>

struct mpi_comm {
    int rank, size;
    graft_collective coll;
};

static mpi_comm world;
static int started;
static int stop_agreed; /* a status round of the library showed a failure */

static void on_stop(void *user)
{
    (void)user;
    stop_agreed = 1;
}

static graft_status allreduce_sum(void *user, float *buf, size_t n, char *msg, size_t msglen)
{
    (void)user;
    /* Buckets are at most 2^20 floats (data_parallel.c): n fits an int. */
    int rc = MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    if (rc == MPI_SUCCESS) return GRAFT_OK;
    char s[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, s, &len);
    snprintf(msg, msglen, "MPI_Allreduce: %s", s);
    return GRAFT_ERR_INTERNAL;
}

static graft_status mpi_failed(const char *what, int rc, char *msg, size_t msglen)
{
    char s[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, s, &len);
    snprintf(msg, msglen, "%s: %s", what, s);
    return GRAFT_ERR_INTERNAL;
}

/* The split-phase sum (overlap with backward): MPI_Iallreduce on a request
 * of our own allocation. */
static graft_status iallreduce_start(void *user, float *buf, size_t n, void **req, char *msg,
                                     size_t msglen)
{
    (void)user;
    MPI_Request *r = malloc(sizeof *r);
    if (!r) {
        snprintf(msg, msglen, "out of memory");
        return GRAFT_ERR_HOST_MEMORY;
    }
    int rc = MPI_Iallreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, r);
    if (rc != MPI_SUCCESS) {
        free(r);
        return mpi_failed("MPI_Iallreduce", rc, msg, msglen);
    }
    *req = r;
    return GRAFT_OK;
}

static int iallreduce_test(void *user, void *req)
{
    (void)user;
    int done = 0;
    /* A completed request becomes MPI_REQUEST_NULL; testing it again is
     * allowed and says done. */
    MPI_Test(req, &done, MPI_STATUS_IGNORE);
    return done;
}

static graft_status iallreduce_wait(void *user, void *req, char *msg, size_t msglen)
{
    (void)user;
    int rc = MPI_Wait(req, MPI_STATUS_IGNORE);
    free(req);
    return rc == MPI_SUCCESS ? GRAFT_OK : mpi_failed("MPI_Wait", rc, msg, msglen);
}

/* Rows of row_floats floats as one MPI datatype, so that the counts are
 * rows (a dataset's image count: an int) however long a row is. */
static graft_status allgatherv(void *user, float *all, const int *rows, size_t row_floats,
                               char *msg, size_t msglen)
{
    (void)user;
    if (row_floats > 0x7fffffff) {
        snprintf(msg, msglen, "rows of %zu floats: too long for MPI", row_floats);
        return GRAFT_ERR_INVALID_ARG;
    }
    int size = world.size;
    int *displs = malloc(sizeof *displs * (size_t)size);
    if (!displs) {
        snprintf(msg, msglen, "out of memory");
        return GRAFT_ERR_HOST_MEMORY;
    }
    for (int r = 0, at = 0; r < size; r++) {
        displs[r] = at;
        at += rows[r];
    }
    MPI_Datatype row;
    int rc = MPI_Type_contiguous((int)row_floats, MPI_FLOAT, &row);
    if (rc == MPI_SUCCESS) rc = MPI_Type_commit(&row);
    graft_status s = GRAFT_OK;
    if (rc != MPI_SUCCESS) {
        s = mpi_failed("MPI_Type_contiguous", rc, msg, msglen);
    } else {
        rc = MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, all, rows, displs, row,
                            MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) s = mpi_failed("MPI_Allgatherv", rc, msg, msglen);
        MPI_Type_free(&row);
    }
    free(displs);
    return s;
}

static void finish(void)
{
    int fin = 0;
    MPI_Finalized(&fin);
    if (!fin) MPI_Finalize();
}

mpi_comm *mpi_comm_world(void)
{
    if (started) return world.size > 1 ? &world : NULL;
    started = 1;
    if (graft_mpi_world_size_from_env() <= 1) return NULL;
    int provided;
    /* Only the main thread calls MPI (replica threads do not). */
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        fprintf(stderr, "graft: MPI_Init failed\n");
        exit(1);
    }
    atexit(finish);
    MPI_Comm_rank(MPI_COMM_WORLD, &world.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world.size);
    world.coll = (graft_collective){world.rank,       world.size,       allreduce_sum,
                                    NULL,             on_stop,          iallreduce_start,
                                    iallreduce_test,  iallreduce_wait,  allgatherv};
    return world.size > 1 ? &world : NULL;
}

int mpi_comm_rank(const mpi_comm *c) { return c->rank; }
int mpi_comm_size(const mpi_comm *c) { return c->size; }
const graft_collective *mpi_comm_collective(mpi_comm *c) { return &c->coll; }
void mpi_comm_barrier(mpi_comm *c)
{
    (void)c;
    MPI_Barrier(MPI_COMM_WORLD);
}
int mpi_comm_stop_agreed(const mpi_comm *c)
{
    (void)c;
    return stop_agreed;
}
void mpi_comm_abort(mpi_comm *c, int status)
{
    (void)c;
    fflush(stdout);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, status);
    exit(status);
}

#else /* built without MPI */

struct mpi_comm {
    int unused;
};

mpi_comm *mpi_comm_world(void)
{
    int n = graft_mpi_world_size_from_env();
    if (n > 1) {
        fprintf(stderr, "graft: started as one of %d MPI ranks, but this graft was built without "
                        "MPI (meson setup -Dmpi=enabled, with libopenmpi-dev installed); every rank "
                        "would run the whole job, so none does\n", n);
        exit(EXIT_USAGE);
    }
    return NULL;
}

int mpi_comm_rank(const mpi_comm *c)
{
    (void)c;
    return 0;
}
int mpi_comm_size(const mpi_comm *c)
{
    (void)c;
    return 1;
}
const graft_collective *mpi_comm_collective(mpi_comm *c)
{
    (void)c;
    return NULL;
}
void mpi_comm_barrier(mpi_comm *c) { (void)c; }
int mpi_comm_stop_agreed(const mpi_comm *c)
{
    (void)c;
    return 0;
}
void mpi_comm_abort(mpi_comm *c, int status)
{
    (void)c;
    exit(status);
}
#endif
