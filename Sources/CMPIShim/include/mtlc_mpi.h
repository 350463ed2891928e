// Open MPI, loaded at run time: mtlc builds and runs without it, and uses it when started by
// mpirun. Open MPI's handles (MPI_COMM_WORLD, MPI_BYTE) are C macros over global symbols
// (`ompi_mpi_comm_world`, `ompi_mpi_byte`), which Swift cannot import: this shim looks them up with
// dlsym and calls the few functions mtlc needs.
#ifndef MTLC_MPI_H
#define MTLC_MPI_H

#include <stdint.h>

/// Loads libmpi (`path`, or Open MPI's libmpi.so.40 when NULL) and its symbols. 0 on success;
/// otherwise a reason is written to `why` (at most `n` bytes).
int mtlc_mpi_load(const char *path, char *why, int n);
/// MPI_Init; then this process's rank and the number of ranks. 0 on success.
int mtlc_mpi_init(int *rank, int *size);
/// MPI_Allgather of `n` bytes from every rank into `out` (size × n bytes, rank order). 0 on success.
int mtlc_mpi_allgather(const void *in, int64_t n, void *out);
/// MPI_Finalize.
int mtlc_mpi_finalize(void);
/// MPI_Abort on MPI_COMM_WORLD: ends every rank.
void mtlc_mpi_abort(int code);

#endif
