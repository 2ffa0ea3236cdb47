/* The VDDK double's front library: libvixDiskLib.so.8 as clients load it.
 *
 * The real VixDiskLib starts its threads in VixDiskLib_InitEx, so a client may load the library,
 * fork (nbdkit in daemon mode does), and only then call InitEx. The double is written in Go, whose
 * runtime starts its threads as soon as the library is loaded and does not survive a fork. This
 * front holds no threads: InitEx loads the Go part (libvadp-vddk-double.so, beside this file) and
 * every other entry point jumps straight to the Go part's function of the same name, with the
 * caller's arguments untouched. An entry point called before InitEx stops the process with a
 * message, as calling VDDK uninitialised is undefined. x86-64 only, like the double's ABI. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GO_PART "libvadp-vddk-double.so"

#define ENTRY_POINTS(X) \
    X(Exit) X(ListTransportModes) X(AllocateConnectParams) X(FreeConnectParams) X(PrepareForAccess) \
    X(EndAccess) X(ConnectEx) X(Disconnect) X(Cleanup) X(Open) X(Close) X(GetTransportMode) X(Read) \
    X(Write) X(ReadAsync) X(WriteAsync) X(Wait) X(Flush) X(ReadMetadata) X(GetMetadataKeys) \
    X(WriteMetadata) X(GetInfo) X(FreeInfo) X(QueryAllocatedBlocks) X(FreeBlockList) X(GetErrorText) \
    X(FreeErrorText) X(Create)

static void not_initialised(const char *name)
{
    fprintf(stderr, "libvixDiskLib (lab double): VixDiskLib_%s called before VixDiskLib_InitEx\n", name);
    abort();
}

/* One pointer per entry point, first aimed at a stub that names the call made too early. */
#define STUB(name) \
    static void stub_##name(void) { not_initialised(#name); } \
    void *vadp_front_##name __attribute__((visibility("hidden"))) = (void *)stub_##name;
ENTRY_POINTS(STUB)

/* Each entry point is a bare jump through its pointer: the arguments, in registers and on the
 * stack, reach the Go part exactly as the caller passed them, whatever the signature. */
#define TRAMPOLINE(name) \
    __asm__(".globl VixDiskLib_" #name "\n" \
            ".type VixDiskLib_" #name ", @function\n" \
            "VixDiskLib_" #name ":\n" \
            "    jmp *vadp_front_" #name "(%rip)\n" \
            ".size VixDiskLib_" #name ", .-VixDiskLib_" #name "\n");
ENTRY_POINTS(TRAMPOLINE)

typedef uint64_t (*init_ex_fn)(uint32_t, uint32_t, void *, void *, void *, const char *, const char *);

static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;
static void *go_part;

static int load_go_part(void)
{
    Dl_info self;
    char path[4096];
    if (!dladdr((void *)load_go_part, &self) || !self.dli_fname) {
        return -1;
    }
    const char *slash = strrchr(self.dli_fname, '/');
    size_t folder = slash ? (size_t)(slash - self.dli_fname + 1) : 0;
    if (folder + sizeof(GO_PART) > sizeof(path)) {
        return -1;
    }
    memcpy(path, self.dli_fname, folder);
    strcpy(path + folder, GO_PART);
    go_part = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!go_part) {
        fprintf(stderr, "libvixDiskLib (lab double): %s\n", dlerror());
        return -1;
    }
#define RESOLVE(name) \
    if (!(vadp_front_##name = dlsym(go_part, "VixDiskLib_" #name))) { \
        return -1; \
    }
    ENTRY_POINTS(RESOLVE)
    return 0;
}

uint64_t VixDiskLib_InitEx(uint32_t major, uint32_t minor, void *log, void *warn, void *panic_func,
                           const char *lib_dir, const char *config_file)
{
    pthread_mutex_lock(&load_lock);
    int failed = !go_part && load_go_part() != 0;
    pthread_mutex_unlock(&load_lock);
    if (failed) {
        return 1; /* VIX_E_FAIL */
    }
    init_ex_fn init_ex = (init_ex_fn)dlsym(go_part, "VixDiskLib_InitEx");
    return init_ex ? init_ex(major, minor, log, warn, panic_func, lib_dir, config_file) : 1;
}
