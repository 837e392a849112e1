/* The .cl sources of cl/, embedded at build time (see tools/embed_cl.py). */
#ifndef GRAFT_CL_SOURCES_H
#define GRAFT_CL_SOURCES_H
extern const char *const graft_cl_sources[];
extern const char *const graft_cl_names[];
extern const int graft_cl_count;
#endif
