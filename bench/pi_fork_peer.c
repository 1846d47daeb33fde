/* unipar_bench_pi_fork_peer: the plain C peer of unipar's Monte Carlo pi map (bench/farm.cpp).
 *
 *   unipar_bench_pi_fork_peer [--samples N] [--tasks T] [--reps R] [--procs P]
 *
 * The same tasks as the unipar driver (bench/pi_task.h), done twice per repetition, alternating:
 *   - serial: one process computes every task in a loop;
 *   - fork: the parent maps a shared page (mmap MAP_SHARED | MAP_ANONYMOUS), forks P - 1
 *     workers, and every process claims the next task from a shared atomic counter
 *     (atomic_fetch_add) until none is left, adding its hits to a shared atomic sum; the parent
 *     then reaps the workers. The time includes the mmap, the forks and the waits, as unipar's
 *     map outside run includes forking its workers.
 * Prints one JSON line per mode (best and median over the repetitions, the hit count, the
 * estimate of pi), then the speedup serial / fork of the medians. Exits non-zero when the fork
 * count differs from the serial one or pi is off by more than 1e-3. */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pi_task.h"

#define MAX_REPS 64

typedef struct {
  _Atomic uint64_t next_task;
  _Atomic uint64_t hits;
} shared_state;

static double now_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static uint64_t serial_hits(uint64_t samples, uint64_t tasks) {
  uint64_t hits = 0;
  for (uint64_t task = 0; task < tasks; ++task) {
    hits += pi_task_hits(task, pi_task_samples(task, tasks, samples));
  }
  return hits;
}

static void claim_tasks(shared_state* shared, uint64_t samples, uint64_t tasks) {
  uint64_t mine = 0;
  for (;;) {
    const uint64_t task = atomic_fetch_add(&shared->next_task, 1);
    if (task >= tasks) break;
    mine += pi_task_hits(task, pi_task_samples(task, tasks, samples));
  }
  atomic_fetch_add(&shared->hits, mine);
}

static uint64_t fork_hits(uint64_t samples, uint64_t tasks, int procs) {
  shared_state* shared =
      mmap(NULL, sizeof *shared, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (shared == MAP_FAILED) {
    perror("mmap");
    exit(1);
  }
  atomic_init(&shared->next_task, 0);
  atomic_init(&shared->hits, 0);
  pid_t workers[256];
  for (int i = 0; i < procs - 1; ++i) {
    workers[i] = fork();
    if (workers[i] < 0) {
      perror("fork");
      exit(1);
    }
    if (workers[i] == 0) {
      claim_tasks(shared, samples, tasks);
      _exit(0);
    }
  }
  claim_tasks(shared, samples, tasks);
  for (int i = 0; i < procs - 1; ++i) {
    int status = 0;
    if (waitpid(workers[i], &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      fprintf(stderr, "pi_fork_peer: a worker failed\n");
      exit(1);
    }
  }
  const uint64_t hits = atomic_load(&shared->hits);
  munmap(shared, sizeof *shared);
  return hits;
}

static int by_value(const void* a, const void* b) {
  const double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

static double median_of(const double* values, int count) {
  double sorted[MAX_REPS];
  memcpy(sorted, values, sizeof(double) * (size_t)count);
  qsort(sorted, (size_t)count, sizeof(double), by_value);
  return sorted[count / 2];
}

static double best_of(const double* values, int count) {
  double best = values[0];
  for (int i = 1; i < count; ++i) best = values[i] < best ? values[i] : best;
  return best;
}

static void print_mode(const char* name, const double* seconds, int reps, int procs, uint64_t hits,
                       uint64_t samples, uint64_t tasks) {
  printf(
      "{\"impl\": \"c-fork\", \"name\": \"%s\", \"seconds_per_op\": %.6e, \"median\": %.6e, "
      "\"procs\": %d, \"samples\": %d, \"hits\": %llu, \"points\": %llu, \"tasks\": %llu, "
      "\"pi\": %.9f}\n",
      name, best_of(seconds, reps), median_of(seconds, reps), procs, reps, (unsigned long long)hits,
      (unsigned long long)samples, (unsigned long long)tasks, 4.0 * (double)hits / (double)samples);
}

static uint64_t number(const char* text) {
  char* end = NULL;
  const double value = strtod(text, &end); /* accepts 2e8 */
  if (end == text || *end != '\0' || value < 1) {
    fprintf(stderr, "pi_fork_peer: not a positive number: %s\n", text);
    exit(2);
  }
  return (uint64_t)value;
}

int main(int argc, char** argv) {
  uint64_t samples = 200000000, tasks = 64;
  int reps = 5, procs = 2;
  for (int i = 1; i < argc; ++i) {
    if (i + 1 < argc && strcmp(argv[i], "--samples") == 0) {
      samples = number(argv[++i]);
    } else if (i + 1 < argc && strcmp(argv[i], "--tasks") == 0) {
      tasks = number(argv[++i]);
    } else if (i + 1 < argc && strcmp(argv[i], "--reps") == 0) {
      reps = (int)number(argv[++i]);
    } else if (i + 1 < argc && strcmp(argv[i], "--procs") == 0) {
      procs = (int)number(argv[++i]);
    } else {
      fprintf(stderr,
              "usage: unipar_bench_pi_fork_peer [--samples N] [--tasks T] [--reps R] "
              "[--procs P]\n");
      return 2;
    }
  }
  if (reps > MAX_REPS || procs > 256) {
    fprintf(stderr, "pi_fork_peer: at most %d repetitions and 256 processes\n", MAX_REPS);
    return 2;
  }
  double serial_seconds[MAX_REPS], fork_seconds[MAX_REPS];
  uint64_t serial_count = 0, fork_count = 0;
  for (int rep = 0; rep < reps; ++rep) {
    double start = now_seconds();
    serial_count = serial_hits(samples, tasks);
    serial_seconds[rep] = now_seconds() - start;
    start = now_seconds();
    fork_count = fork_hits(samples, tasks, procs);
    fork_seconds[rep] = now_seconds() - start;
    if (fork_count != serial_count) {
      fprintf(stderr, "pi_fork_peer: fork counted %llu hits, serial %llu\n",
              (unsigned long long)fork_count, (unsigned long long)serial_count);
      return 1;
    }
  }
  print_mode("pi_serial", serial_seconds, reps, 1, serial_count, samples, tasks);
  print_mode("pi_fork", fork_seconds, reps, procs, fork_count, samples, tasks);
  const double speedup = median_of(serial_seconds, reps) / median_of(fork_seconds, reps);
  printf("{\"impl\": \"c-fork\", \"name\": \"pi_speedup\", \"speedup\": %.4f, \"procs\": %d}\n",
         speedup, procs);
  fflush(stdout);
  const double pi = 4.0 * (double)fork_count / (double)samples;
  if (fabs(pi - 3.14159265358979323846) > 1e-3) {
    fprintf(stderr, "pi_fork_peer: pi = %.9f is off by more than 1e-3\n", pi);
    return 1;
  }
  return 0;
}
