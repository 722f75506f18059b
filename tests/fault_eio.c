/* An LD_PRELOAD shim for the storage-fault tests (tests/fault_tolerance_test.py rocksdb_eio):
 * while the file named by MOEREC_FAULT_EIO_TRIGGER exists, every write or sync of a file whose
 * path starts with MOEREC_FAULT_EIO_PREFIX fails with EIO, as a failing disk would. Without both
 * variables, or with the trigger absent, calls pass through unchanged. Test-only: the job under
 * test (RocksDB, the checkpoint writers) sees real errors from real system calls.
 * sync_file_range is left alone: RocksDB probes it once per file with a call that may only fail
 * with ENOSYS (an assertion in its Debian build). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static int failing(int fd) {
  const char* trigger = getenv("MOEREC_FAULT_EIO_TRIGGER");
  const char* prefix = getenv("MOEREC_FAULT_EIO_PREFIX");
  if (trigger == NULL || prefix == NULL) return 0;
  struct stat st;
  if (stat(trigger, &st) != 0) return 0;
  char link[64], path[4096];
  snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  const ssize_t n = readlink(link, path, sizeof(path) - 1);
  if (n <= 0) return 0;
  path[n] = '\0';
  return strncmp(path, prefix, strlen(prefix)) == 0;
}

#define NEXT(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

ssize_t write(int fd, const void* buf, size_t n) {
  if (failing(fd)) return errno = EIO, -1;
  return NEXT(write)(fd, buf, n);
}

ssize_t pwrite(int fd, const void* buf, size_t n, off_t at) {
  if (failing(fd)) return errno = EIO, -1;
  return NEXT(pwrite)(fd, buf, n, at);
}

ssize_t pwrite64(int fd, const void* buf, size_t n, off64_t at) {
  if (failing(fd)) return errno = EIO, -1;
  return NEXT(pwrite64)(fd, buf, n, at);
}

ssize_t writev(int fd, const struct iovec* iov, int count) {
  if (failing(fd)) return errno = EIO, -1;
  return NEXT(writev)(fd, iov, count);
}

int fsync(int fd) {
  if (failing(fd)) return errno = EIO, -1;
  return NEXT(fsync)(fd);
}

int fdatasync(int fd) {
  if (failing(fd)) return errno = EIO, -1;
  return NEXT(fdatasync)(fd);
}
