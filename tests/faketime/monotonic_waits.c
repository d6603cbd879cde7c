/* Timed waits on the monotonic clock under libfaketime.
 *
 * `faketime DATE ./scripts/test.sh` (the suite must pass on any date) shifts CLOCK_MONOTONIC with
 * the date, but libfaketime 0.9.10 (Debian 12) does not translate the absolute deadlines of
 * sem_clockwait and pthread_cond_clockwait, which Python's threads use for every timed wait
 * (Event.wait, Lock.acquire with a timeout, queue.get): the kernel compares a deadline on the
 * faked clock with the real one, and a wait of half a second lasts as long as the shift, a year.
 * Preloaded before libfaketime by scripts/test.sh, this turns such a deadline into the same
 * distance from the real clock, read with the system call libfaketime does not see.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <semaphore.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define NS 1000000000LL

static struct timespec on_real_clock(clockid_t clock, const struct timespec *deadline)
{
    struct timespec faked, real, out;
    long long left, at;

    clock_gettime(clock, &faked); /* libfaketime's answer */
    syscall(SYS_clock_gettime, clock, &real); /* the kernel's */
    left = (deadline->tv_sec - faked.tv_sec) * NS + (deadline->tv_nsec - faked.tv_nsec);
    at = real.tv_sec * NS + real.tv_nsec + (left > 0 ? left : 0);
    out.tv_sec = at / NS;
    out.tv_nsec = at % NS;
    return out;
}

int sem_clockwait(sem_t *sem, clockid_t clock, const struct timespec *deadline)
{
    static int (*next)(sem_t *, clockid_t, const struct timespec *);
    struct timespec real;

    if (next == NULL)
        next = (int (*)(sem_t *, clockid_t, const struct timespec *))dlsym(RTLD_NEXT,
                                                                           "sem_clockwait");
    real = on_real_clock(clock, deadline);
    return next(sem, clock, &real);
}

int pthread_cond_clockwait(pthread_cond_t *cond, pthread_mutex_t *mutex, clockid_t clock,
                           const struct timespec *deadline)
{
    static int (*next)(pthread_cond_t *, pthread_mutex_t *, clockid_t, const struct timespec *);
    struct timespec real;

    if (next == NULL)
        next = (int (*)(pthread_cond_t *, pthread_mutex_t *, clockid_t,
                        const struct timespec *))dlsym(RTLD_NEXT, "pthread_cond_clockwait");
    real = on_real_clock(clock, deadline);
    return next(cond, mutex, clock, &real);
}
