#include "mtlc_mpi.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

typedef void *Handle;
static int (*p_init)(int *, char ***);
static int (*p_rank)(Handle, int *);
static int (*p_size)(Handle, int *);
static int (*p_allgather)(const void *, int, Handle, void *, int, Handle, Handle);
static int (*p_finalize)(void);
static int (*p_abort)(Handle, int);
static Handle comm_world, byte_type;

int mtlc_mpi_load(const char *path, char *why, int n) {
  // RTLD_GLOBAL: Open MPI's own plugins resolve libmpi's symbols.
  const char *names[] = {"libmpi.so.40", "libmpi.so", NULL};
  void *lib = NULL;
  if (path) {
    lib = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
  } else {
    for (int i = 0; names[i] && !lib; i++) lib = dlopen(names[i], RTLD_NOW | RTLD_GLOBAL);
  }
  if (!lib) {
    snprintf(why, n, "cannot load Open MPI's library (libmpi.so.40): %s", dlerror());
    return 1;
  }
  p_init = (int (*)(int *, char ***))dlsym(lib, "MPI_Init");
  p_rank = (int (*)(Handle, int *))dlsym(lib, "MPI_Comm_rank");
  p_size = (int (*)(Handle, int *))dlsym(lib, "MPI_Comm_size");
  p_allgather = (int (*)(const void *, int, Handle, void *, int, Handle, Handle))dlsym(lib, "MPI_Allgather");
  p_finalize = (int (*)(void))dlsym(lib, "MPI_Finalize");
  p_abort = (int (*)(Handle, int))dlsym(lib, "MPI_Abort");
  comm_world = dlsym(lib, "ompi_mpi_comm_world");
  byte_type = dlsym(lib, "ompi_mpi_byte");
  if (!p_init || !p_rank || !p_size || !p_allgather || !p_finalize || !p_abort || !comm_world || !byte_type) {
    snprintf(why, n, "the MPI library loaded is not Open MPI (a symbol is missing)");
    return 1;
  }
  return 0;
}

int mtlc_mpi_init(int *rank, int *size) {
  if (p_init(NULL, NULL) != 0) return 1;
  if (p_rank(comm_world, rank) != 0 || p_size(comm_world, size) != 0) return 1;
  return 0;
}

int mtlc_mpi_allgather(const void *in, int64_t n, void *out) {
  // MPI counts are ints: a step's bytes per rank stay far below 2 GiB (mtlc checks).
  if (n < 0 || n > 0x7fffffff) return 1;
  return p_allgather(in, (int)n, byte_type, out, (int)n, byte_type, comm_world);
}

int mtlc_mpi_finalize(void) { return p_finalize(); }

void mtlc_mpi_abort(int code) { p_abort(comm_world, code); }
