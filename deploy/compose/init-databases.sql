-- One database per service: no service reads another's data.
CREATE DATABASE planning;
CREATE DATABASE evidence;
CREATE DATABASE assessment;
CREATE DATABASE ekinerja_sync;
