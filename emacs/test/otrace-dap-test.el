;;; otrace-dap-test.el --- ERT tests of otrace-dap.el with dap-mode -*- lexical-binding: t -*-

;;; Commentary:

;; otrace-dap.el loads without dap-mode; with dap-mode (Debian's
;; elpa-dap-mode on load-path) the "otrace" provider is registered,
;; builds its configuration from the discovery file of a real
;; torna_trace demo, and `otrace-dap-attach' drives a real dap-mode
;; session: a held request stops as a thread at its source line, and
;; `dap-continue' lets its HTTP response arrive.  The dap-mode tests
;; are skipped when dap-mode cannot be loaded.
;;
;;   emacs --batch -Q -L /usr/share/emacs/site-lisp/elpa/dap-mode-0.7 ... -L emacs \
;;     -l emacs/test/otrace-test.el -l emacs/test/otrace-dap-test.el -f ert-run-tests-batch-and-exit

;;; Code:

(require 'ert)
(require 'cl-lib)
(require 'json)
(require 'otrace-test (expand-file-name "otrace-test.el"
                                        (file-name-directory (or load-file-name buffer-file-name))))
(require 'dap-mode nil t)
(require 'otrace-dap)

(defvar dap--debug-providers)
(defvar dap-debug-template-configurations)
(declare-function dap--cur-session "dap-mode" ())
(declare-function dap--debug-session-state "dap-mode" (session))
(declare-function dap--debug-session-thread-id "dap-mode" (session))
(declare-function dap--debug-session-active-frame "dap-mode" (session))
(declare-function dap-continue "dap-mode" (debug-session thread-id))
(declare-function dap-disconnect "dap-mode" (session))
(declare-function dap--debug-session-proc "dap-mode" (session))

(defun otrace-dap-test--discovery (app)
  "The discovery file of demo APP, as an alist."
  (let ((pid (process-id (otrace-test--app-proc app))))
    (json-read-file (expand-file-name (format "otrace-%d.json" pid) otrace-discovery-directory))))

(ert-deftest otrace-dap-test-loads-without-dap-mode ()
  "Loading otrace-dap.el without dap-mode on `load-path' works and registers nothing."
  (let* ((emacs (expand-file-name invocation-name invocation-directory))
         (out (with-output-to-string
                (call-process emacs nil standard-output nil "--batch" "-Q"
                              "-L" (expand-file-name "emacs" otrace-test--root)
                              "-l" "otrace-dap" "--eval"
                              "(princ (format \"RESULT %S\" (list (featurep 'otrace-dap) (featurep 'dap-mode) (commandp 'otrace-dap-attach))))"))))
    (should (string-match-p "RESULT (t nil t)" out))))

(defun otrace-dap-test--fresh-emacs (&rest forms)
  "Run FORMS (strings) in a new batch Emacs with this one's `load-path'; its output."
  (let ((emacs (expand-file-name invocation-name invocation-directory)))
    (with-output-to-string
      (apply #'call-process emacs nil standard-output nil "--batch" "-Q"
             (append (cl-mapcan (lambda (dir) (list "-L" dir)) load-path)
                     (cl-mapcan (lambda (form) (list "--eval" form)) forms))))))

(ert-deftest otrace-dap-test-attach-reachable-whatever-loads-first ()
  "After the README's `(require \='otrace)' `otrace-dap-attach' is a command,
and the provider registers when dap-mode loads later, or was loaded first."
  (skip-unless (locate-library "dap-mode"))
  (should (string-match-p
           "RESULT (t nil t)"
           (otrace-dap-test--fresh-emacs
            "(require 'otrace)"
            "(princ (format \"RESULT %S\" (list (commandp 'otrace-dap-attach) (featurep 'dap-mode) (progn (require 'dap-mode) (eq (gethash \"otrace\" dap--debug-providers) 'otrace-dap-provide)))))")))
  (should (string-match-p
           "RESULT t"
           (otrace-dap-test--fresh-emacs
            "(require 'dap-mode)" "(require 'otrace)"
            "(princ (format \"RESULT %S\" (eq (gethash \"otrace\" dap--debug-providers) 'otrace-dap-provide)))"))))

(ert-deftest otrace-dap-test-says-why-dap-mode-is-missing ()
  "Without dap-mode on `load-path', attaching says it is not installed (or not activated)."
  (should (string-match-p
           "RESULT \"otrace: Dap-mode is not installed"
           (otrace-dap-test--fresh-emacs
            (format "(setq load-path (seq-remove (lambda (d) (string-match-p \"dap-mode\" d)) load-path) \
user-emacs-directory %S)" (make-temp-file "otrace-ert-home" t))
            "(require 'otrace)"
            "(princ (format \"RESULT %S\" (condition-case err (otrace-dap-attach) (user-error (cadr err)))))"))))

(ert-deftest otrace-dap-test-attaches-to-the-connected-process-without-asking ()
  "With two processes running, the provider picks the one `otrace-connect' is connected to."
  (skip-unless (featurep 'dap-mode))
  (otrace-test--with-app (app "demos/torna_trace.py")
    (let* ((otrace-test--runtime-dir (file-name-directory (directory-file-name otrace-discovery-directory)))
           (other (otrace-test--start "demos/torna_trace.py")))
      (unwind-protect
          (progn
            (otrace-test--wait (lambda () (= (length (otrace-processes)) 2)) "two processes")
            (otrace-test--connect app)
            (cl-letf (((symbol-function 'completing-read)
                       (lambda (&rest _) (ert-fail "asked which process although one is connected"))))
              (should (equal (plist-get (otrace-dap-provide (list :type "otrace")) :pid)
                             (process-id (otrace-test--app-proc app))))))
        (otrace-disconnect)
        (let ((proc (otrace-test--app-proc other)))
          (ignore-errors (process-send-eof proc))
          (otrace-test--wait (lambda () (not (process-live-p proc))) "the second demo to end" 10)
          (kill-buffer (process-buffer proc)))))))

(ert-deftest otrace-dap-test-provider-registered ()
  "With dap-mode, the \"otrace\" provider and its template are registered."
  (skip-unless (featurep 'dap-mode))
  (should (eq (gethash "otrace" dap--debug-providers) #'otrace-dap-provide))
  (let ((template (cdr (assoc otrace-dap-template-name dap-debug-template-configurations))))
    (should (equal (plist-get template :type) "otrace"))
    (should (equal (plist-get template :request) "attach"))))

(ert-deftest otrace-dap-test-configuration-from-discovery ()
  "The provider fills host, DAP port and token from a running demo's discovery file."
  (skip-unless (featurep 'dap-mode))
  (otrace-test--with-app (app "demos/torna_trace.py")
    (let* ((info (otrace-dap-test--discovery app))
           (pid (process-id (otrace-test--app-proc app)))
           (conf (funcall (gethash "otrace" dap--debug-providers)
                          (list :type "otrace" :request "attach" :name "otrace"))))
      (should (integerp (alist-get 'dap_port info)))
      (should (equal (plist-get conf :host) "127.0.0.1"))
      (should (equal (plist-get conf :debugServer) (alist-get 'dap_port info)))
      (should (equal (plist-get conf :token) (alist-get 'token info)))
      (should (equal (plist-get conf :request) "attach"))
      (should (equal (plist-get conf :pid) pid))
      (should (equal (plist-get (otrace-dap-provide (list :type "otrace" :pid pid)) :debugServer)
                     (alist-get 'dap_port info)))
      (let ((err (should-error (otrace-dap-provide (list :type "otrace" :pid 1)) :type 'user-error)))
        (should (string-match-p "No running otrace process 1" (cadr err)))))))

(ert-deftest otrace-dap-test-attach-round-trip ()
  "dap-mode attaches with the token; a held request is a stopped thread; continue resumes it."
  (skip-unless (featurep 'dap-mode))
  (otrace-test--with-app (app "demos/torna_trace.py")
    (let* ((pid (process-id (otrace-test--app-proc app)))
           (demo (expand-file-name "demos/torna_trace.py" otrace-test--root))
           (hold-line (otrace-test--demo-line "replacement = await traceassert(number != \"77\""))
           (inhibit-message t)
           session)
      (unwind-protect
          (progn
            (otrace-dap-attach pid)
            (setq session (dap--cur-session))
            (should session)
            (otrace-test--wait (lambda () (eq (dap--debug-session-state session) 'running))
                               "the dap-mode session to run")
            (let ((http (otrace-test--http-get app "/?number=77")))
              (otrace-test--wait (lambda () (dap--debug-session-active-frame session))
                                 "a stopped thread with its frame")
              (let ((frame (dap--debug-session-active-frame session)))
                (should (equal (gethash "path" (gethash "source" frame)) demo))
                (should (= (gethash "line" frame) hold-line))
                (should (equal (gethash "name" frame) "get")))
              (should-not (otrace-test--buffer-has http "reciprocal"))
              (dap-continue session (dap--debug-session-thread-id session))
              (otrace-test--wait (lambda () (otrace-test--buffer-has http "The reciprocal of 77.0"))
                                 "the held request's HTTP response")
              (kill-buffer http)))
        (when session
          (ignore-errors (dap-disconnect session))
          (otrace-test--wait (lambda () (not (process-live-p (dap--debug-session-proc session))))
                             "the dap-mode connection to close" 5))
        (let ((buf (get-file-buffer demo)))
          (when buf (kill-buffer buf)))))))

(provide 'otrace-dap-test)
;;; otrace-dap-test.el ends here
