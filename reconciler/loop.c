/*
 * loop.c - the daemon's one event loop: libvirt's default implementation
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <libvirt/libvirt.h>
#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>

#include "loop.h"

typedef struct {
	loop_fd_fn fd_fn;
	loop_timer_fn timer_fn;
	gpointer data;
} loop_cb;

void
loop_init(void)
{
	static gsize done;

	if (g_once_init_enter(&done)) {
		virEventRegisterDefaultImpl();
		g_once_init_leave(&done, 1);
	}
}

static void
on_fd(int watch, int fd, int events, void *opaque)
{
	loop_cb *cb = opaque;

	(void)watch;
	(void)events;
	cb->fd_fn(fd, cb->data);
}

static void
on_timer(int timer, void *opaque)
{
	loop_cb *cb = opaque;

	(void)timer;
	cb->timer_fn(cb->data);
}

int
loop_watch(int fd, loop_fd_fn fn, gpointer data)
{
	loop_cb *cb = g_new0(loop_cb, 1);
	int w;

	cb->fd_fn = fn;
	cb->data = data;
	w = virEventAddHandle(fd, VIR_EVENT_HANDLE_READABLE, on_fd, cb, g_free);
	if (w < 0)
		g_free(cb);
	return w;
}

void
loop_watch_write(int watch, bool write)
{
	if (watch >= 0)
		virEventUpdateHandle(watch, write ? VIR_EVENT_HANDLE_WRITABLE : VIR_EVENT_HANDLE_READABLE);
}

void
loop_unwatch(int watch)
{
	if (watch >= 0)
		virEventRemoveHandle(watch);
}

int
loop_timer(int ms, loop_timer_fn fn, gpointer data)
{
	loop_cb *cb = g_new0(loop_cb, 1);
	int t;

	cb->timer_fn = fn;
	cb->data = data;
	t = virEventAddTimeout(ms, on_timer, cb, g_free);
	if (t < 0)
		g_free(cb);
	return t;
}

void
loop_timer_set(int timer, int ms)
{
	if (timer >= 0)
		virEventUpdateTimeout(timer, ms);
}

void
loop_timer_remove(int timer)
{
	if (timer >= 0)
		virEventRemoveTimeout(timer);
}

int
loop_signalfd(const int *signals, int n)
{
	sigset_t set;

	sigemptyset(&set);
	for (int i = 0; i < n; i++)
		sigaddset(&set, signals[i]);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		return -1;
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

void
loop_iterate(void)
{
	virEventRunDefaultImpl();
}
