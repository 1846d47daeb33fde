/* pi_task.h: one task of the Monte Carlo pi benchmark, shared word for word by the unipar driver
 * (bench/farm.cpp, C++) and the plain C peer (bench/pi_fork_peer.c), so that both compute
 * exactly the same thing at the same cost and must find exactly the same hit counts.
 *
 * Task t draws its points from its own MT19937-64 engine seeded with t: the generator of
 * std::mt19937_64 (Matsumoto and Nishimura's mt19937-64.c; bench/farm.cpp checks that it gives
 * std::mt19937_64's numbers), written in C so that the C peer can use it. A point is two doubles
 * in [0, 1) from the top 53 bits of one draw each; it hits when x^2 + y^2 < 1. */
#ifndef UNIPAR_BENCH_PI_TASK_H
#define UNIPAR_BENCH_PI_TASK_H

#include <stdint.h>

#define PI_TASK_NN 312
#define PI_TASK_MM 156

typedef struct {
  uint64_t state[PI_TASK_NN];
  int next;
} pi_task_engine;

static inline void pi_task_seed(pi_task_engine* engine, uint64_t seed) {
  engine->state[0] = seed;
  for (int i = 1; i < PI_TASK_NN; ++i) {
    const uint64_t previous = engine->state[i - 1];
    engine->state[i] = UINT64_C(6364136223846793005) * (previous ^ (previous >> 62)) + (uint64_t)i;
  }
  engine->next = PI_TASK_NN;
}

static inline void pi_task_refill(pi_task_engine* engine) {
  const uint64_t upper = UINT64_C(0xFFFFFFFF80000000);
  const uint64_t lower = UINT64_C(0x7FFFFFFF);
  const uint64_t matrix = UINT64_C(0xB5026F5AA96619E9);
  uint64_t* mt = engine->state;
  int i = 0;
  for (; i < PI_TASK_NN - PI_TASK_MM; ++i) {
    const uint64_t x = (mt[i] & upper) | (mt[i + 1] & lower);
    mt[i] = mt[i + PI_TASK_MM] ^ (x >> 1) ^ ((x & 1U) ? matrix : 0);
  }
  for (; i < PI_TASK_NN - 1; ++i) {
    const uint64_t x = (mt[i] & upper) | (mt[i + 1] & lower);
    mt[i] = mt[i + (PI_TASK_MM - PI_TASK_NN)] ^ (x >> 1) ^ ((x & 1U) ? matrix : 0);
  }
  const uint64_t x = (mt[PI_TASK_NN - 1] & upper) | (mt[0] & lower);
  mt[PI_TASK_NN - 1] = mt[PI_TASK_MM - 1] ^ (x >> 1) ^ ((x & 1U) ? matrix : 0);
  engine->next = 0;
}

static inline uint64_t pi_task_draw(pi_task_engine* engine) {
  if (engine->next >= PI_TASK_NN) pi_task_refill(engine);
  uint64_t x = engine->state[engine->next++];
  x ^= (x >> 29) & UINT64_C(0x5555555555555555);
  x ^= (x << 17) & UINT64_C(0x71D67FFFEDA60000);
  x ^= (x << 37) & UINT64_C(0xFFF7EEE000000000);
  x ^= x >> 43;
  return x;
}

/* How many of task `task`'s `samples` points fall inside the quarter circle. */
static inline uint64_t pi_task_hits(uint64_t task, uint64_t samples) {
  pi_task_engine engine;
  pi_task_seed(&engine, task);
  const double scale = 1.0 / 9007199254740992.0; /* 2^-53 */
  uint64_t hits = 0;
  for (uint64_t i = 0; i < samples; ++i) {
    const double x = (double)(pi_task_draw(&engine) >> 11) * scale;
    const double y = (double)(pi_task_draw(&engine) >> 11) * scale;
    hits += (x * x + y * y < 1.0) ? 1U : 0U;
  }
  return hits;
}

/* Task `task`'s share of `samples` points split over `tasks` tasks (the first ones get one more
 * when it does not divide). */
static inline uint64_t pi_task_samples(uint64_t task, uint64_t tasks, uint64_t samples) {
  return samples / tasks + (task < samples % tasks ? 1U : 0U);
}

#endif /* UNIPAR_BENCH_PI_TASK_H */
