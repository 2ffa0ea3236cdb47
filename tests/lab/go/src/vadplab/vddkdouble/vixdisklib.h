/* The VixDiskLib ABI as the lab's VDDK double implements it (x86-64 Linux, LP64), written from
 * VixDiskLib's C API as VMware's VDDK documents it (docs/data-mover.md). The C compiler lays these structs out, so
 * they match what a real VDDK's callers pass. */
#ifndef VADPLAB_VIXDISKLIB_H
#define VADPLAB_VIXDISKLIB_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef uint64_t VixError;
typedef uint64_t VixDiskLibSectorType;
typedef char Bool;
typedef void *VixDiskLibConnection;
typedef void *VixDiskLibHandle;
typedef void(VixDiskLibGenericLogFunc)(const char *fmt, va_list args);
typedef void (*VixDiskLibCompletionCB)(void *cbData, VixError result);
typedef Bool (*VixDiskLibProgressFunc)(void *progressData, int percentCompleted);

typedef struct { uint32_t cylinders, heads, sectors; } VixDiskLibGeometry;

typedef struct {
    int diskType;
    int adapterType;
    uint16_t hwVersion;
    VixDiskLibSectorType capacity;
    uint32_t logicalSectorSize;
    uint32_t physicalSectorSize;
} VixDiskLibCreateParams;

typedef struct { char *userName; char *password; } VixDiskLibUidPasswdCreds;
typedef struct { char *cookie; char *userName; char *key; } VixDiskLibSessionIdCreds;
typedef struct { char *id; char *datastoreMoRef; char *ssId; } VixDiskLibVStorageObjectSpec;

typedef struct {
    char *vmxSpec;
    char *serverName;
    char *thumbPrint;
    long privateUse;
    int credType;
    union {
        VixDiskLibUidPasswdCreds uid;
        VixDiskLibSessionIdCreds sessionId;
        void *ticketId;
    } creds;
    uint32_t port;
    uint32_t nfcHostPort;
    char *vimApiVer;
    char reserved[8];
    void *state;
    union {
        VixDiskLibVStorageObjectSpec vStorageObjSpec;
    } spec;
    int specType;
} VixDiskLibConnectParams;

typedef struct {
    VixDiskLibGeometry biosGeo;
    VixDiskLibGeometry physGeo;
    VixDiskLibSectorType capacity;
    int adapterType;
    int numLinks;
    char *parentFileNameHint;
    char *uuid;
    uint32_t logicalSectorSize;
    uint32_t physicalSectorSize;
} VixDiskLibInfo;

typedef struct { VixDiskLibSectorType offset; VixDiskLibSectorType length; } VixDiskLibBlock;
typedef struct { uint32_t numBlocks; VixDiskLibBlock blocks[1]; } VixDiskLibBlockList;

/* Helpers defined in helpers.go (a file with //export may only declare C functions). */
void vadplab_log(VixDiskLibGenericLogFunc *f, const char *message);
/* cbData travels through Go as an integer: it is the caller's, not a Go pointer. */
void vadplab_complete(VixDiskLibCompletionCB cb, uintptr_t data, VixError result);

#endif
