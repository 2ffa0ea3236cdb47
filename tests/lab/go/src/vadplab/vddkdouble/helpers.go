package main

/*
#include "vixdisklib.h"

static void vadplab_log_fmt(VixDiskLibGenericLogFunc *f, const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	f(fmt, ap);
	va_end(ap);
}

// VDDK hands its log callbacks a format and a va_list; the double's messages are plain text.
void vadplab_log(VixDiskLibGenericLogFunc *f, const char *message) {
	if (f) vadplab_log_fmt(f, "%s\n", message);
}

void vadplab_complete(VixDiskLibCompletionCB cb, uintptr_t data, VixError result) {
	if (cb) cb((void *)data, result);
}
*/
import "C"
