/* toy_format.h - the toy format of test_registry (toy_format.c). */
#ifndef TOY_FORMAT_H
#define TOY_FORMAT_H

extern int toy_format_checks; /* verify's calls of its store-wide check */

#endif
