/* oortfs: shortcuts */
/*
 * Inserted into fuse-native.c by scripts/patch-fuse-native.mjs (step 5).
 *
 * READS
 * A streaming read arrives as 128 KiB FUSE reads, and fuse-native hands each
 * one to the JS thread and blocks the FUSE thread until JS answers: two thread
 * hand-offs and a JS call per 128 KiB, about half of a cached read's CPU. Most
 * of those reads only copy bytes out of a block JS already holds. So the block
 * cache mirrors its blocks here (publish/unpublish), the open-file layer tells
 * which open handles read one cached object version as it is (bind/unbind),
 * and a read of a bound handle whose blocks are all here is answered on the
 * FUSE thread. Anything else (a block missing, a handle not bound) goes to JS
 * as before. JS hears of each read answered here afterwards, in batches (the
 * read-ahead and the cache's recency follow them).
 *
 * Ownership stays in JS: a block is published only while the cache holds it,
 * and unpublished (synchronously, under the lock) before the cache lets its
 * buffer go or reuses it; a handle is unbound before a change of its file is
 * acknowledged and before its release is. Every copy out of a block happens
 * under the lock, so once unpublish returns no FUSE thread reads that memory.
 * Each published block also holds a reference to its Buffer: a mistake in JS
 * could then serve a stale block, but never freed memory.
 *
 * WRITES. A write went to the JS thread, which handed its pwrite to libuv's
 * pool and took the answer back: four thread hand-offs and a promise chain
 * per 128 KiB. For a handle JS arms (arm, with the staging file's
 * descriptor), the FUSE thread makes the pwrite itself, then hands the call
 * to JS as before, with what the pwrite did (oortfs_sc_wrote): JS records the
 * range and answers, so nothing is answered before JS knows of it. JS
 * disarms a handle before anything that changes the staging file another way
 * (a truncate, bytes fetched into it, its close) and before the shutdown's
 * last save: disarm returns how many writes were ever taken here for the
 * handle, and JS waits until it has seen that many, so none is still on its
 * way. Armed, a handle has its own dup of the descriptor, closed only once no
 * FUSE thread writes through it.
 */

#include <unistd.h>
#include <fcntl.h>

#define OORTFS_SC_EVENTS 1024
/* the most blocks one read may span here (a 1 MiB read over 16 KiB blocks) */
#define OORTFS_SC_SPAN 64

typedef struct oortfs_sc_block {
  struct oortfs_sc_block *next;
  uint64_t object;
  uint64_t index;
  char *data;
  size_t len;
  napi_ref ref;
} oortfs_sc_block_t;

typedef struct oortfs_sc_bind {
  struct oortfs_sc_bind *next;
  uint64_t fh;
  uint64_t object;
} oortfs_sc_bind_t;

typedef struct oortfs_sc_wbind {
  struct oortfs_sc_wbind *next;
  uint64_t fh;
  int fd;
  /* FUSE threads writing through fd now; a disarmed entry is freed by the last */
  int users;
  int armed;
  /* writes taken here for fh, counted from what JS had seen when it armed */
  uint64_t passes;
} oortfs_sc_wbind_t;

typedef struct {
  pthread_mutex_t mut;
  uint64_t bs;
  size_t nblocks; /* buckets, a power of two */
  oortfs_sc_block_t **blocks;
  size_t nbinds;  /* buckets, a power of two */
  oortfs_sc_bind_t **binds;
  oortfs_sc_wbind_t **wbinds; /* nbinds buckets */
  /* reads answered here and not yet told to JS: fh, offset, length */
  double events[OORTFS_SC_EVENTS * 3];
  size_t nevents;
  uv_async_t async;
  napi_env env;
  napi_ref onserved;
  napi_ref eventsref;
  double *eventsjs;
} oortfs_sc_t;

static size_t oortfs_sc_hash (uint64_t a, uint64_t b, size_t n) {
  uint64_t h = a * 0x9E3779B97F4A7C15ULL ^ (b + 0x632BE59BD9B4E019ULL) * 0xC2B2AE3D27D4EB4FULL;
  h ^= h >> 29;
  return (size_t) (h & (n - 1));
}

static oortfs_sc_block_t **oortfs_sc_block_slot (oortfs_sc_t *sc, uint64_t object, uint64_t index) {
  oortfs_sc_block_t **p = &(sc->blocks[oortfs_sc_hash(object, index, sc->nblocks)]);
  while (*p != NULL && !((*p)->object == object && (*p)->index == index)) p = &((*p)->next);
  return p;
}

static oortfs_sc_bind_t **oortfs_sc_bind_slot (oortfs_sc_t *sc, uint64_t fh) {
  oortfs_sc_bind_t **p = &(sc->binds[oortfs_sc_hash(fh, 0, sc->nbinds)]);
  while (*p != NULL && (*p)->fh != fh) p = &((*p)->next);
  return p;
}

static oortfs_sc_wbind_t **oortfs_sc_wbind_slot (oortfs_sc_t *sc, uint64_t fh) {
  oortfs_sc_wbind_t **p = &(sc->wbinds[oortfs_sc_hash(fh, 1, sc->nbinds)]);
  while (*p != NULL && (*p)->fh != fh) p = &((*p)->next);
  return p;
}

/*
 * FUSE thread: 1 if the write was taken here (*wrote: the bytes written, or
 * -errno if none were), 0 if JS makes it. A short write is what it is: the
 * bytes that went are recorded and answered.
 */
static int oortfs_sc_write (fuse_thread_t *ft, struct fuse_file_info *info, const char *buf, size_t len, off_t offset, int64_t *wrote) {
  oortfs_sc_t *sc = (oortfs_sc_t *) __atomic_load_n(&(ft->oortfs_sc), __ATOMIC_ACQUIRE);
  if (sc == NULL || info == NULL || offset < 0) return 0;
  pthread_mutex_lock(&(sc->mut));
  oortfs_sc_wbind_t *w = *oortfs_sc_wbind_slot(sc, info->fh);
  if (w == NULL || !w->armed) {
    pthread_mutex_unlock(&(sc->mut));
    return 0;
  }
  w->users++;
  w->passes++;
  int fd = w->fd;
  pthread_mutex_unlock(&(sc->mut));
  size_t done = 0;
  int err = 0;
  while (done < len) {
    ssize_t n = pwrite(fd, buf + done, len - done, offset + (off_t) done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) { err = errno; break; }
    if (n == 0) { err = ENOSPC; break; }
    done += (size_t) n;
  }
  pthread_mutex_lock(&(sc->mut));
  int last = --(w->users) == 0 && !w->armed;
  pthread_mutex_unlock(&(sc->mut));
  if (last) {
    close(w->fd);
    free(w);
  }
  *wrote = done > 0 || len == 0 ? (int64_t) done : -(int64_t) err;
  return 1;
}

/* FUSE thread: the bytes of a read if every block it needs is here, else -1 (JS answers it) */
static int oortfs_sc_read (fuse_thread_t *ft, struct fuse_file_info *info, char *buf, size_t len, off_t offset) {
  oortfs_sc_t *sc = (oortfs_sc_t *) __atomic_load_n(&(ft->oortfs_sc), __ATOMIC_ACQUIRE);
  if (sc == NULL || info == NULL || len == 0 || offset < 0 || len > 0x7fffffff) return -1;
  uint64_t bs = sc->bs;
  uint64_t off = (uint64_t) offset;
  uint64_t end = off + len;
  uint64_t first = off / bs;
  uint64_t last = (end - 1) / bs;
  if (last - first >= OORTFS_SC_SPAN) return -1;
  oortfs_sc_block_t *found[OORTFS_SC_SPAN];
  size_t count = 0;
  pthread_mutex_lock(&(sc->mut));
  oortfs_sc_bind_t *bind = *oortfs_sc_bind_slot(sc, info->fh);
  if (bind == NULL) goto miss;
  for (uint64_t i = first; i <= last; i++) {
    oortfs_sc_block_t *b = *oortfs_sc_block_slot(sc, bind->object, i);
    if (b == NULL) goto miss;
    found[count++] = b;
    /* a short block holds the object's end: nothing follows it */
    if (b->len < bs) break;
  }
  uint64_t pos = off;
  for (size_t k = 0; k < count; k++) {
    oortfs_sc_block_t *b = found[k];
    uint64_t start = (first + k) * bs;
    uint64_t from = pos - start;
    if (from >= b->len) break;
    uint64_t to = end - start < b->len ? end - start : b->len;
    memcpy(buf + (pos - off), b->data + from, to - from);
    pos += to - from;
    if (b->len < bs) break;
  }
  {
    /* full (JS has not taken them for a long while): the newest read takes the last place, so JS still learns where the stream is */
    size_t at = sc->nevents < OORTFS_SC_EVENTS ? sc->nevents++ : OORTFS_SC_EVENTS - 1;
    double *e = &(sc->events[at * 3]);
    e[0] = (double) info->fh;
    e[1] = (double) off;
    e[2] = (double) (pos - off);
  }
  pthread_mutex_unlock(&(sc->mut));
  /* libuv coalesces sends: one wake-up of the JS thread for many reads */
  uv_async_send(&(sc->async));
  return (int) (pos - off);
miss:
  pthread_mutex_unlock(&(sc->mut));
  return -1;
}

/* main thread: moves the reads answered here since the last time to JS's array; their count */
static size_t oortfs_sc_take_events (oortfs_sc_t *sc) {
  pthread_mutex_lock(&(sc->mut));
  size_t n = sc->nevents;
  memcpy(sc->eventsjs, sc->events, n * 3 * sizeof(double));
  sc->nevents = 0;
  pthread_mutex_unlock(&(sc->mut));
  return n;
}

/* main thread, woken by a read answered here: JS's told() takes the events (oortfs_sc_take) */
static void oortfs_sc_told (uv_async_t *handle) {
  oortfs_sc_t *sc = (oortfs_sc_t *) handle->data;
  napi_env env = sc->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value fn, recv;
  napi_get_reference_value(env, sc->onserved, &fn);
  /* napi_make_callback wants an object to call on */
  napi_get_global(env, &recv);
  NAPI_MAKE_CALLBACK(env, NULL, recv, fn, 0, NULL, NULL)
  napi_close_handle_scope(env, scope);
}

static size_t oortfs_sc_pow2 (double want) {
  size_t n = 64;
  while (n < want && n < ((size_t) 1 << 24)) n <<= 1;
  return n;
}

static int oortfs_sc_u64 (napi_env env, napi_value v, uint64_t *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || !(d >= 0) || d > 9007199254740992.0) return 0;
  *out = (uint64_t) d;
  return 1;
}

/* oortfs_sc_init(thread, blockSize, blocksHint, events: Float64Array(3 * 1024), told()): told is called
   when reads were answered here, and takes them with oortfs_sc_take */
NAPI_METHOD(oortfs_sc_init) {
  NAPI_ARGV(5)
  NAPI_ARGV_BUFFER_CAST(fuse_thread_t *, ft, 0);
  uint64_t bs, hint;
  if (!oortfs_sc_u64(env, argv[1], &bs) || bs == 0 || !oortfs_sc_u64(env, argv[2], &hint)) {
    napi_throw_error(env, NULL, "oortfs_sc_init: bad block size or hint");
    return NULL;
  }
  napi_typedarray_type type;
  size_t length;
  void *data;
  if (napi_get_typedarray_info(env, argv[3], &type, &length, &data, NULL, NULL) != napi_ok ||
      type != napi_float64_array || length < OORTFS_SC_EVENTS * 3) {
    napi_throw_error(env, NULL, "oortfs_sc_init: events must be a Float64Array of 3072");
    return NULL;
  }
  if (__atomic_load_n(&(ft->oortfs_sc), __ATOMIC_ACQUIRE) != NULL) {
    napi_throw_error(env, NULL, "oortfs_sc_init: already on");
    return NULL;
  }
  oortfs_sc_t *sc = (oortfs_sc_t *) calloc(1, sizeof(oortfs_sc_t));
  if (sc == NULL) {
    napi_throw_error(env, NULL, "oortfs_sc_init: out of memory");
    return NULL;
  }
  sc->bs = bs;
  sc->nblocks = oortfs_sc_pow2((double) hint);
  sc->nbinds = 1024;
  sc->blocks = (oortfs_sc_block_t **) calloc(sc->nblocks, sizeof(oortfs_sc_block_t *));
  sc->binds = (oortfs_sc_bind_t **) calloc(sc->nbinds, sizeof(oortfs_sc_bind_t *));
  sc->wbinds = (oortfs_sc_wbind_t **) calloc(sc->nbinds, sizeof(oortfs_sc_wbind_t *));
  if (sc->blocks == NULL || sc->binds == NULL || sc->wbinds == NULL) {
    free(sc->blocks);
    free(sc->binds);
    free(sc->wbinds);
    free(sc);
    napi_throw_error(env, NULL, "oortfs_sc_init: out of memory");
    return NULL;
  }
  pthread_mutex_init(&(sc->mut), NULL);
  sc->env = env;
  sc->eventsjs = (double *) data;
  napi_create_reference(env, argv[3], 1, &(sc->eventsref));
  napi_create_reference(env, argv[4], 1, &(sc->onserved));
  uv_async_init(uv_default_loop(), &(sc->async), oortfs_sc_told);
  sc->async.data = sc;
  /* the mount's end must not wait for this handle */
  uv_unref((uv_handle_t *) &(sc->async));
  __atomic_store_n(&(ft->oortfs_sc), (void *) sc, __ATOMIC_RELEASE);
  return NULL;
}

static oortfs_sc_t *oortfs_sc_of (napi_env env, napi_value thread) {
  fuse_thread_t *ft;
  size_t len;
  if (napi_get_buffer_info(env, thread, (void **) &ft, &len) != napi_ok || len < sizeof(fuse_thread_t)) return NULL;
  return (oortfs_sc_t *) __atomic_load_n(&(ft->oortfs_sc), __ATOMIC_ACQUIRE);
}

/* oortfs_sc_publish(thread, object, index, block): the block's bytes, as the cache holds them */
NAPI_METHOD(oortfs_sc_publish) {
  NAPI_ARGV(4)
  oortfs_sc_t *sc = oortfs_sc_of(env, argv[0]);
  uint64_t object, index;
  char *data;
  size_t len;
  napi_ref ref;
  if (sc == NULL || !oortfs_sc_u64(env, argv[1], &object) || !oortfs_sc_u64(env, argv[2], &index) ||
      napi_get_buffer_info(env, argv[3], (void **) &data, &len) != napi_ok ||
      napi_create_reference(env, argv[3], 1, &ref) != napi_ok) return NULL;
  napi_ref old = NULL;
  pthread_mutex_lock(&(sc->mut));
  oortfs_sc_block_t **p = oortfs_sc_block_slot(sc, object, index);
  oortfs_sc_block_t *b = *p;
  if (b == NULL) {
    b = (oortfs_sc_block_t *) calloc(1, sizeof(oortfs_sc_block_t));
    if (b != NULL) {
      b->object = object;
      b->index = index;
      *p = b;
    }
  } else {
    old = b->ref;
  }
  if (b != NULL) {
    b->data = data;
    b->len = len;
    b->ref = ref;
  }
  pthread_mutex_unlock(&(sc->mut));
  if (b == NULL) napi_delete_reference(env, ref);
  if (old != NULL) napi_delete_reference(env, old);
  return NULL;
}

/* oortfs_sc_unpublish(thread, object, index): once it returns, no read here touches that block */
NAPI_METHOD(oortfs_sc_unpublish) {
  NAPI_ARGV(3)
  oortfs_sc_t *sc = oortfs_sc_of(env, argv[0]);
  uint64_t object, index;
  if (sc == NULL) return NULL; /* never on: nothing was published */
  if (!oortfs_sc_u64(env, argv[1], &object) || !oortfs_sc_u64(env, argv[2], &index)) {
    napi_throw_error(env, NULL, "oortfs_sc_unpublish: bad object or index");
    return NULL;
  }
  pthread_mutex_lock(&(sc->mut));
  oortfs_sc_block_t **p = oortfs_sc_block_slot(sc, object, index);
  oortfs_sc_block_t *b = *p;
  if (b != NULL) *p = b->next;
  pthread_mutex_unlock(&(sc->mut));
  if (b != NULL) {
    napi_delete_reference(env, b->ref);
    free(b);
  }
  return NULL;
}

/* oortfs_sc_bind(thread, fh, object): reads of fh are that object's cached blocks, as they are */
NAPI_METHOD(oortfs_sc_bind) {
  NAPI_ARGV(3)
  oortfs_sc_t *sc = oortfs_sc_of(env, argv[0]);
  uint64_t fh, object;
  if (sc == NULL || !oortfs_sc_u64(env, argv[1], &fh) || !oortfs_sc_u64(env, argv[2], &object)) return NULL;
  pthread_mutex_lock(&(sc->mut));
  oortfs_sc_bind_t **p = oortfs_sc_bind_slot(sc, fh);
  if (*p == NULL) {
    oortfs_sc_bind_t *b = (oortfs_sc_bind_t *) calloc(1, sizeof(oortfs_sc_bind_t));
    if (b != NULL) {
      b->fh = fh;
      *p = b;
    }
  }
  if (*p != NULL) (*p)->object = object;
  pthread_mutex_unlock(&(sc->mut));
  return NULL;
}

/* oortfs_sc_take(thread): the reads answered here since the last take, now in the events array: their count */
NAPI_METHOD(oortfs_sc_take) {
  NAPI_ARGV(1)
  oortfs_sc_t *sc = oortfs_sc_of(env, argv[0]);
  napi_value count;
  napi_create_uint32(env, sc == NULL ? 0 : (uint32_t) oortfs_sc_take_events(sc), &count);
  return count;
}

/* oortfs_sc_unbind(thread, fh): once it returns, every read of fh goes to JS */
NAPI_METHOD(oortfs_sc_unbind) {
  NAPI_ARGV(2)
  oortfs_sc_t *sc = oortfs_sc_of(env, argv[0]);
  uint64_t fh;
  if (sc == NULL) return NULL; /* never on: nothing was bound */
  if (!oortfs_sc_u64(env, argv[1], &fh)) {
    napi_throw_error(env, NULL, "oortfs_sc_unbind: bad handle");
    return NULL;
  }
  pthread_mutex_lock(&(sc->mut));
  oortfs_sc_bind_t **p = oortfs_sc_bind_slot(sc, fh);
  oortfs_sc_bind_t *b = *p;
  if (b != NULL) *p = b->next;
  pthread_mutex_unlock(&(sc->mut));
  free(b);
  return NULL;
}

/* oortfs_sc_arm(thread, fh, fd, seen): fh's writes are made here into (a dup of) fd; true if armed */
NAPI_METHOD(oortfs_sc_arm) {
  NAPI_ARGV(4)
  oortfs_sc_t *sc = oortfs_sc_of(env, argv[0]);
  uint64_t fh, fd, seen;
  napi_value armed;
  napi_get_boolean(env, false, &armed);
  if (sc == NULL || !oortfs_sc_u64(env, argv[1], &fh) || !oortfs_sc_u64(env, argv[2], &fd) || !oortfs_sc_u64(env, argv[3], &seen)) return armed;
  pthread_mutex_lock(&(sc->mut));
  oortfs_sc_wbind_t **p = oortfs_sc_wbind_slot(sc, fh);
  int was = *p != NULL;
  pthread_mutex_unlock(&(sc->mut));
  if (was) return armed; /* armed already: JS disarms before it arms again */
  /* close-on-exec: no child (fusermount, logger) inherits it */
  int own = fcntl((int) fd, F_DUPFD_CLOEXEC, 0);
  if (own < 0) return armed;
  oortfs_sc_wbind_t *w = (oortfs_sc_wbind_t *) calloc(1, sizeof(oortfs_sc_wbind_t));
  if (w == NULL) {
    close(own);
    return armed;
  }
  w->fh = fh;
  w->fd = own;
  w->armed = 1;
  w->passes = seen;
  pthread_mutex_lock(&(sc->mut));
  p = oortfs_sc_wbind_slot(sc, fh);
  w->next = *p;
  *p = w;
  pthread_mutex_unlock(&(sc->mut));
  napi_get_boolean(env, true, &armed);
  return armed;
}

/* oortfs_sc_disarm(thread, fh): from now on fh's writes go to JS; how many were ever taken here (0: none armed) */
NAPI_METHOD(oortfs_sc_disarm) {
  NAPI_ARGV(2)
  oortfs_sc_t *sc = oortfs_sc_of(env, argv[0]);
  uint64_t fh;
  napi_value out;
  if (sc == NULL) {
    napi_create_double(env, 0, &out);
    return out;
  }
  if (!oortfs_sc_u64(env, argv[1], &fh)) {
    napi_throw_error(env, NULL, "oortfs_sc_disarm: bad handle");
    return NULL;
  }
  double passes = 0;
  int last = 0;
  pthread_mutex_lock(&(sc->mut));
  oortfs_sc_wbind_t **p = oortfs_sc_wbind_slot(sc, fh);
  oortfs_sc_wbind_t *w = *p;
  if (w != NULL) {
    *p = w->next;
    w->armed = 0;
    passes = (double) w->passes;
    last = w->users == 0;
  }
  pthread_mutex_unlock(&(sc->mut));
  if (last) {
    close(w->fd);
    free(w);
  }
  napi_create_double(env, passes, &out);
  return out;
}

/* oortfs_sc_wrote(): for the write being dispatched, what its pwrite here did (bytes, or -errno); undefined if JS makes it */
NAPI_METHOD(oortfs_sc_wrote) {
  napi_value out;
  if (oortfs_dispatching == NULL || oortfs_dispatching->op != op_write || !oortfs_dispatching->oortfs_taken) {
    napi_get_undefined(env, &out);
    return out;
  }
  napi_create_double(env, (double) oortfs_dispatching->oortfs_wrote, &out);
  return out;
}
