/* version.h: the program's version, for "nodeseal version" and the
 * metrics' build info. */
#ifndef NS_VERSION_H
#define NS_VERSION_H

#define NS_VERSION "0.1.0"

#endif
