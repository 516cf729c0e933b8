#include "trace/trace-sculpt.h"
