/* Names of OpenCL status codes, for error messages. */
#ifndef GRAFT_CL_ERROR_H
#define GRAFT_CL_ERROR_H
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

/* "CL_INVALID_VALUE" for CL_INVALID_VALUE; "CL_UNKNOWN_ERROR" otherwise. */
const char *cl_error_name(cl_int code);
#endif
