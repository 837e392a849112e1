/* MPI for the graft tool (docs/parallel.md): when graft is built with MPI
 * (meson option mpi) and started by mpirun, the world communicator as a
 * graft_collective for data parallel training, a barrier and an abort for
 * plan runs. The library itself links no MPI. */
#ifndef GRAFT_CLI_MPI_COMM_H
#define GRAFT_CLI_MPI_COMM_H
#include "graft_train.h"

typedef struct mpi_comm mpi_comm;

/* Initialises MPI on first call when this process was started by mpirun
 * with more than one rank; NULL otherwise (one process: the plain path).
 * Started that way by a graft built without MPI, prints why and exits
 * with status 2 rather than let every rank run the whole job. Finalised at
 * exit. */
mpi_comm *mpi_comm_world(void);
int mpi_comm_rank(const mpi_comm *c);
int mpi_comm_size(const mpi_comm *c);
/* MPI_Allreduce (sum, float) on the world communicator. Borrowed. */
const graft_collective *mpi_comm_collective(mpi_comm *c);
void mpi_comm_barrier(mpi_comm *c);
/* Whether the ranks agreed in the library's status rounds that one
 * failed: every rank then returns its error by itself, no abort needed. */
int mpi_comm_stop_agreed(const mpi_comm *c);
/* Ends every rank (MPI_Abort) after a failure this rank cannot tell the
 * others through a collective. */
void mpi_comm_abort(mpi_comm *c, int status);
#endif
