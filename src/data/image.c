/* Image files by content: magic-byte sniffing and the decoder dispatch. */
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "error.h"
#include "fileutil.h"
#include "image.h"
#include "internal.h"

#define IMAGE_MAX_FILE ((size_t)1 << 30)

static int starts(const unsigned char *buf, size_t n, const char *magic, size_t len)
{
    return n >= len && memcmp(buf, magic, len) == 0;
}

/* BMP's "BM" alone is too weak (a text file may start so): also require a
 * known DIB header size at offset 14. */
static int is_bmp(const unsigned char *b, size_t n)
{
    if (n < 18 || b[0] != 'B' || b[1] != 'M') return 0;
    unsigned long dib = b[14] | (unsigned long)b[15] << 8 | (unsigned long)b[16] << 16 | (unsigned long)b[17] << 24;
    return dib == 12 || dib == 40 || dib == 52 || dib == 56 || dib == 64 || dib == 108 || dib == 124;
}

/* ISO base media file: a box "ftyp" at offset 4 whose major brand is one of
 * HEIF's (phones' HEIC photos) or AVIF's. */
static int is_heif(const unsigned char *b, size_t n)
{
    static const char *const brands[] = {"heic", "heix", "heim", "heis", "hevc", "hevx", "mif1", "msf1", "avif", "avis"};
    if (n < 12 || memcmp(b + 4, "ftyp", 4) != 0) return 0;
    for (size_t i = 0; i < sizeof brands / sizeof brands[0]; i++)
        if (memcmp(b + 8, brands[i], 4) == 0) return 1;
    return 0;
}

image_format image_sniff(const unsigned char *buf, size_t n)
{
    if (starts(buf, n, "\x89PNG\r\n\x1a\n", 8)) return IMAGE_PNG;
    if (starts(buf, n, "\xff\xd8\xff", 3)) return IMAGE_JPEG;
    if (n >= 12 && memcmp(buf, "RIFF", 4) == 0 && memcmp(buf + 8, "WEBP", 4) == 0) return IMAGE_WEBP;
    if (starts(buf, n, "GIF87a", 6) || starts(buf, n, "GIF89a", 6)) return IMAGE_GIF;
    if (starts(buf, n, "II*\0", 4) || starts(buf, n, "MM\0*", 4)) return IMAGE_TIFF;
    if (is_bmp(buf, n)) return IMAGE_BMP;
    if (is_heif(buf, n)) return IMAGE_HEIF;
    return IMAGE_UNKNOWN;
}

const char *image_format_name(image_format f)
{
    switch (f) {
    case IMAGE_PNG: return "PNG";
    case IMAGE_JPEG: return "JPEG";
    case IMAGE_WEBP: return "WebP";
    case IMAGE_BMP: return "BMP";
    case IMAGE_GIF: return "GIF";
    case IMAGE_TIFF: return "TIFF";
    case IMAGE_HEIF: return "HEIF/AVIF";
    default: return "unknown";
    }
}

graft_status image_decode_mem(const unsigned char *buf, size_t n, const char *name, int channels,
                              float **pix, int *w, int *h, char *err, size_t errlen)
{
    return image_decode_mem_fit(buf, n, name, channels, 0, 0, pix, w, h, err, errlen);
}

graft_status image_decode_mem_fit(const unsigned char *buf, size_t n, const char *name, int channels,
                                  int min_w, int min_h, float **pix, int *w, int *h, char *err,
                                  size_t errlen)
{
    *pix = NULL;
    *w = *h = 0;
    image_format f = image_sniff(buf, n);
    switch (f) {
    case IMAGE_PNG: return png_decode_mem(buf, n, name, channels, pix, w, h, err, errlen);
    case IMAGE_JPEG: return jpeg_decode_mem_fit(buf, n, name, channels, min_w, min_h, pix, w, h, err, errlen);
    case IMAGE_UNKNOWN:
        if (n == 0) return error_set(err, errlen, GRAFT_ERR_FORMAT, "%s: empty file; graft reads PNG and JPEG", name);
        return error_set(err, errlen, GRAFT_ERR_FORMAT, "%s: not an image graft recognises; graft reads PNG and JPEG", name);
    default:
        return error_set(err, errlen, GRAFT_ERR_UNSUPPORTED, "%s: unsupported image format (%s); graft reads PNG and JPEG",
                        name, image_format_name(f));
    }
}

graft_status image_decode_file(const char *path, int channels, float **pix, int *w, int *h,
                               char *err, size_t errlen)
{
    return image_decode_file_fit(path, channels, 0, 0, pix, w, h, err, errlen);
}

graft_status image_decode_file_fit(const char *path, int channels, int min_w, int min_h, float **pix,
                                   int *w, int *h, char *err, size_t errlen)
{
    *pix = NULL;
    *w = *h = 0;
    unsigned char *buf;
    size_t n;
    int e = file_read_all(path, IMAGE_MAX_FILE, &buf, &n);
    if (e) return error_set(err, errlen, GRAFT_ERR_IO, "%s: cannot read: %s", path, strerror(e));
    graft_status s = image_decode_mem_fit(buf, n, path, channels, min_w, min_h, pix, w, h, err, errlen);
    free(buf);
    return s;
}
