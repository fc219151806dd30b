//! Steps of `scope.feature` (to be written).
