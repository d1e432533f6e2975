/* intern.h — shared, reference-counted copies of short strings (user and database names): 10,000
 * idle clients of one application hold one copy of "app" and "appdb", not 10,000 of each. */
#ifndef WEDPOOL_INTERN_H
#define WEDPOOL_INTERN_H

/* The shared copy of s (NULL on allocation failure); each call takes a reference. "" is a static
 * string and is never counted. */
const char *intern_get(const char *s);
/* Drops a reference taken by intern_get (NULL and "" are ignored). */
void intern_put(const char *s);

#endif
